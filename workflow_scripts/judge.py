from symdistill.core.logs import logging_to
from symdistill.nbody.judge import JudgeInputs, JudgeSpec, judge_cell

with logging_to(snakemake.log[0]):
    judge_cell(JudgeInputs.of(snakemake.input), snakemake.output[0], JudgeSpec.from_params(snakemake.params.spec))

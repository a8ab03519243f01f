from symdistill.core.logs import logging_to
from symdistill.nbody.judge import JudgeSpec, judge_cell

with logging_to(snakemake.log[0]):
    judge_cell(
        snakemake.input.model,
        snakemake.input.test,
        snakemake.input.messages,
        snakemake.input.front,
        snakemake.input.result,
        snakemake.output[0],
        JudgeSpec(**snakemake.params.spec),
    )

from symdistill.core.logs import logging_to
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody.replacement import ReplaceInputs, ReplacementSpec, replace_edge_model

with logging_to(snakemake.log[0]):
    replace_edge_model(
        snakemake.params.cell,
        ReplaceInputs.of(snakemake.input),
        TrainingOutputs.of(snakemake.output),
        ReplacementSpec.from_params(snakemake.params.spec),
        threads=snakemake.threads,
    )

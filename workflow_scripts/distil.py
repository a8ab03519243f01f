from symdistill.core.logs import logging_to
from symdistill.engine.search import SearchSpec
from symdistill.nbody.distillation import (
    DistilInputs,
    DistilOutputs,
    ModelRefitSpec,
    NewtonJudgeSpec,
    distil_node_model,
)

with logging_to(snakemake.log[0]):
    distil_node_model(
        snakemake.params.cell,
        DistilInputs.of(snakemake.input),
        DistilOutputs.of(snakemake.output),
        SearchSpec.from_params(snakemake.params.search),
        NewtonJudgeSpec.from_params(snakemake.params.judge),
        ModelRefitSpec.from_params(snakemake.params.refit, "framework.refit"),
        snakemake.params.equation,
        threads=snakemake.threads,
    )

from symdistill.core.logs import logging_to
from symdistill.nbody.replacement import ReplacementSpec, replace_edge_model

with logging_to(snakemake.log[0]):
    replace_edge_model(
        snakemake.params.cell,
        snakemake.input.model,
        snakemake.input.front,
        snakemake.input.judge,
        snakemake.input.rest,
        snakemake.input.train,
        snakemake.input.test,
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.metrics,
        ReplacementSpec(**snakemake.params.spec),
        threads=snakemake.threads,
    )

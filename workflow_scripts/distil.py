from symdistill.core.logs import logging_to
from symdistill.engine.search import SearchSpec
from symdistill.nbody.distillation import distil_node_model

with logging_to(snakemake.log[0]):
    distil_node_model(
        snakemake.params.cell,
        snakemake.input.replaced,
        snakemake.input.train,
        snakemake.input.test,
        snakemake.output.front,
        snakemake.output.result,
        snakemake.output.model,
        SearchSpec(**snakemake.params.search),
        snakemake.params.equation,
        snakemake.params.truth_r2,
        snakemake.params.fit_margin,
        threads=snakemake.threads,
    )

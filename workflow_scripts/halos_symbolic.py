from symdistill.core.logs import logging_to
from symdistill.cosmology.distillation import fit_halo_symbolic
from symdistill.engine.search import SearchSpec

with logging_to(snakemake.log[0]):
    fit_halo_symbolic(
        snakemake.params.cell,
        snakemake.input.messages,
        snakemake.input.nodes,
        snakemake.output.front,
        snakemake.output.result,
        SearchSpec(**snakemake.params.spec),
        threads=snakemake.threads,
    )

from symdistill.halo_distillation import fit_halo_symbolic
from symdistill.logs import logging_to
from symdistill.symbolic import SearchSpec

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

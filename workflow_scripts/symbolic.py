from symdistill.core.logs import logging_to
from symdistill.engine.search import SearchSpec
from symdistill.nbody.symbolic import fit_symbolic

with logging_to(snakemake.log[0]):
    fit_symbolic(
        snakemake.input[0],
        snakemake.output.front,
        snakemake.output.result,
        SearchSpec(**snakemake.params.spec),
        threads=snakemake.threads,
    )

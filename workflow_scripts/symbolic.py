from symdistill.core.logs import logging_to
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchOutputs
from symdistill.nbody.symbolic import fit_symbolic

with logging_to(snakemake.log[0]):
    fit_symbolic(
        snakemake.input[0],
        SearchOutputs.of(snakemake.output),
        SearchSpec.from_params(snakemake.params.spec),
        threads=snakemake.threads,
    )

from symdistill.core.logs import logging_to
from symdistill.cosmology.distillation import fit_halo_symbolic
from symdistill.cosmology.messages import HaloTables
from symdistill.engine.search import SearchSpec
from symdistill.engine.search_files import SearchOutputs

with logging_to(snakemake.log[0]):
    fit_halo_symbolic(
        snakemake.params.cell,
        HaloTables.of(snakemake.input),
        SearchOutputs.of(snakemake.output),
        SearchSpec.from_params(snakemake.params.spec),
        threads=snakemake.threads,
    )

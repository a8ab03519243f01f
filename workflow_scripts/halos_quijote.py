from symdistill.core.logs import logging_to
from symdistill.cosmology.quijote import QuijoteSource, write_quijote

with logging_to(snakemake.log[0]):
    write_quijote(QuijoteSource.from_params(snakemake.params.source, "cosmology.quijote"), snakemake.output[0])

from symdistill.config import spec_from
from symdistill.logs import logging_to
from symdistill.quijote import QuijoteSource, write_quijote

with logging_to(snakemake.log[0]):
    write_quijote(spec_from(QuijoteSource, snakemake.params.source, "cosmology.quijote"), snakemake.output[0])

from symdistill.core.logs import logging_to
from symdistill.core.specs import spec_from
from symdistill.cosmology.quijote import QuijoteSource, write_quijote

with logging_to(snakemake.log[0]):
    write_quijote(spec_from(QuijoteSource, snakemake.params.source, "cosmology.quijote"), snakemake.output[0])

from symdistill.logs import logging_to
from symdistill.quijote import QuijoteSource, write_quijote

with logging_to(snakemake.log[0]):
    write_quijote(QuijoteSource(**snakemake.params.source), snakemake.output[0])

from symdistill.logs import logging_to
from symdistill.runrecords import publish_records

with logging_to(snakemake.log[0]):
    publish_records(snakemake.params.results, snakemake.params.cells, snakemake.params.datasets, snakemake.output[0])

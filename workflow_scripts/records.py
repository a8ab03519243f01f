from symdistill.core.logs import logging_to
from symdistill.reporting.runrecords import RunFiles, publish_records

with logging_to(snakemake.log[0]):
    publish_records(
        RunFiles.of(snakemake.input).results,
        snakemake.params.cells,
        snakemake.params.datasets,
        snakemake.output[0],
    )

from symdistill.core.logs import logging_to
from symdistill.reporting.runrecords import publish_records, results_folder

with logging_to(snakemake.log[0]):
    publish_records(
        results_folder(snakemake.input.provenance),
        snakemake.params.cells,
        snakemake.params.datasets,
        snakemake.output[0],
    )

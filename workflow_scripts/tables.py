from symdistill.core.logs import logging_to
from symdistill.reporting.tables import TableSettings, make_tables

with logging_to(snakemake.log[0]):
    make_tables(
        snakemake.input.metrics,
        snakemake.input.forcefit,
        snakemake.input.judge,
        snakemake.output,
        TableSettings(**snakemake.params.settings),
    )

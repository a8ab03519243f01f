from symdistill.core.logs import logging_to
from symdistill.reporting.tables import TableInputs, TableSettings, make_tables

with logging_to(snakemake.log[0]):
    make_tables(TableInputs.of(snakemake.input), snakemake.output, TableSettings.from_params(snakemake.params.settings))

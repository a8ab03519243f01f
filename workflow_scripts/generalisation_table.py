from symdistill.core.logs import logging_to
from symdistill.core.rendering import TableFiles
from symdistill.reporting.generalisation_table import make_generalisation_table

with logging_to(snakemake.log[0]):
    make_generalisation_table(snakemake.input, TableFiles.of(snakemake.output))

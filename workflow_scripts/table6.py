from symdistill.core.logs import logging_to
from symdistill.core.rendering import TableFiles
from symdistill.cosmology.table6 import make_table6

with logging_to(snakemake.log[0]):
    make_table6(snakemake.input, TableFiles.of(snakemake.output))

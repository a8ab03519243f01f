from symdistill.halo_report import make_table6
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    make_table6(snakemake.input, snakemake.output.csv, snakemake.output.md, snakemake.output.html)

from symdistill.halo_report import halo_figures
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    halo_figures(snakemake.params.cell, snakemake.input, snakemake.output, snakemake.params.spec)

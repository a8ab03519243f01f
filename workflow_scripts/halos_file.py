from symdistill.halos import import_catalogue
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    import_catalogue(snakemake.input[0], snakemake.output[0], box=snakemake.params.box)

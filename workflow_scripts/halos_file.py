from symdistill.core.logs import logging_to
from symdistill.cosmology.catalogue import import_catalogue

with logging_to(snakemake.log[0]):
    import_catalogue(snakemake.input[0], snakemake.output[0], box=snakemake.params.box)

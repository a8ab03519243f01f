from symdistill.halos import SyntheticCatalogueSpec, write_synthetic
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    write_synthetic(SyntheticCatalogueSpec(**snakemake.params.spec), snakemake.output[0])

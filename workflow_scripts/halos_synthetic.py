from symdistill.core.logs import logging_to
from symdistill.cosmology.catalogue import SyntheticCatalogueSpec, write_synthetic

with logging_to(snakemake.log[0]):
    write_synthetic(SyntheticCatalogueSpec.from_params(snakemake.params.spec), snakemake.output[0])

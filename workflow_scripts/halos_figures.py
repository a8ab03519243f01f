from symdistill.core.logs import logging_to
from symdistill.core.specs import spec_from
from symdistill.cosmology.catalogue import HaloUnits
from symdistill.cosmology.figures import halo_figures

with logging_to(snakemake.log[0]):
    halo_figures(
        snakemake.params.cell,
        snakemake.input,
        snakemake.output,
        spec_from(HaloUnits, snakemake.params.units, "cosmology.units"),
    )

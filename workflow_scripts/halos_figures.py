from symdistill.config import spec_from
from symdistill.halo_report import halo_figures
from symdistill.halos import HaloUnits
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    halo_figures(
        snakemake.params.cell,
        snakemake.input,
        snakemake.output,
        spec_from(HaloUnits, snakemake.params.units, "cosmology.units"),
    )

from symdistill.core.logs import logging_to
from symdistill.cosmology.catalogue import HaloUnits
from symdistill.cosmology.figures import HaloFigureInputs, halo_figures

with logging_to(snakemake.log[0]):
    halo_figures(
        snakemake.params.cell,
        HaloFigureInputs.of(snakemake.input),
        snakemake.output,
        HaloUnits.from_params(snakemake.params.units, "cosmology.units"),
    )

from symdistill.core.logs import logging_to
from symdistill.reporting.cell_figures import CellFigureInputs, cell_figures

with logging_to(snakemake.log[0]):
    cell_figures(
        CellFigureInputs.of(snakemake.input),
        snakemake.output,
        snakemake.params.rollout_simulation,
        snakemake.params.rollout_substeps,
    )

from symdistill.figures import cell_figures
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    cell_figures(
        snakemake.input, snakemake.output, snakemake.params.rollout_simulation, snakemake.params.rollout_substeps
    )

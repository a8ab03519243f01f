from symdistill.forcefit import fit_forces
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    fit_forces(snakemake.input[0], snakemake.output[0], snakemake.params.keep)

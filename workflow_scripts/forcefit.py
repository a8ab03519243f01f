from symdistill.core.logs import logging_to
from symdistill.nbody.forcefit import fit_forces

with logging_to(snakemake.log[0]):
    fit_forces(snakemake.input[0], snakemake.output[0], snakemake.params.keep)

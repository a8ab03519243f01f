from symdistill.core.logs import logging_to
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.simulate import Shift, SimulationSpec, simulate_ood

with logging_to(snakemake.log[0]):
    simulate_ood(
        SimulationSpec.from_params(snakemake.params.spec),
        Shift.from_params(snakemake.params.shift),
        snakemake.output[0],
        PairLaw.from_params(snakemake.params.law),
    )

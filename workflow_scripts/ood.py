from symdistill.laws import PairLaw
from symdistill.logs import logging_to
from symdistill.simulate import Shift, SimulationSpec, simulate_ood

with logging_to(snakemake.log[0]):
    simulate_ood(
        SimulationSpec(**snakemake.params.spec),
        Shift(**snakemake.params.shift),
        snakemake.output[0],
        PairLaw(**snakemake.params.law),
    )

from symdistill.core.logs import logging_to
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.simulate import SimulationSpec, simulate_dataset

with logging_to(snakemake.log[0]):
    simulate_dataset(
        SimulationSpec(**snakemake.params.spec),
        snakemake.output.train,
        snakemake.output.test,
        PairLaw(**snakemake.params.law),
    )

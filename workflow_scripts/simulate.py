from symdistill.core.logs import logging_to
from symdistill.nbody.data import SplitFiles
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.simulate import SimulationSpec, simulate_dataset

with logging_to(snakemake.log[0]):
    simulate_dataset(
        SimulationSpec.from_params(snakemake.params.spec),
        SplitFiles.of(snakemake.output),
        PairLaw.from_params(snakemake.params.law),
    )

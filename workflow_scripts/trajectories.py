from symdistill.core.logs import logging_to
from symdistill.nbody.data import SplitFiles
from symdistill.nbody.trajectories import TrajectorySpec, import_trajectories

with logging_to(snakemake.log[0]):
    import_trajectories(TrajectorySpec.from_params(snakemake.params.spec), SplitFiles.of(snakemake.output))

from symdistill.core.logs import logging_to
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody.data import SplitFiles
from symdistill.nbody.train import TrainingSpec, train_cell

with logging_to(snakemake.log[0]):
    train_cell(
        TrainingSpec.from_params(snakemake.params.spec),
        snakemake.params.cell,
        SplitFiles.of(snakemake.input),
        TrainingOutputs.of(snakemake.output),
        threads=snakemake.threads,
        device=snakemake.params.device,
    )

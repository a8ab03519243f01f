from symdistill.core.logs import logging_to
from symdistill.nbody.train import TrainingSpec, train_cell

with logging_to(snakemake.log[0]):
    train_cell(
        TrainingSpec.from_params(snakemake.params.spec),
        snakemake.params.cell,
        snakemake.input.train,
        snakemake.input.test,
        snakemake.output.model,
        snakemake.output.history,
        snakemake.output.metrics,
        threads=snakemake.threads,
        device=snakemake.params.device,
    )

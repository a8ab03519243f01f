from symdistill.core.logs import logging_to
from symdistill.cosmology.training import HaloTrainingSpec, train_halo_network
from symdistill.engine.training import TrainingOutputs

with logging_to(snakemake.log[0]):
    train_halo_network(
        HaloTrainingSpec.from_params(snakemake.params.spec),
        snakemake.params.cell,
        snakemake.input[0],
        TrainingOutputs.of(snakemake.output),
        threads=snakemake.threads,
        device=snakemake.params.device,
    )

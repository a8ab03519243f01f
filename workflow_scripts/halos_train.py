from symdistill.core.logs import logging_to
from symdistill.cosmology.training import HaloOutputs, HaloTrainingSpec, train_halo_network

with logging_to(snakemake.log[0]):
    train_halo_network(
        HaloTrainingSpec.from_params(snakemake.params.spec),
        snakemake.params.cell,
        snakemake.input[0],
        HaloOutputs.of(snakemake.output),
        threads=snakemake.threads,
        device=snakemake.params.device,
    )

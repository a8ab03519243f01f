from symdistill.core.logs import logging_to
from symdistill.cosmology.messages import HaloMessagesSpec, HaloTables, TrainedNetwork, extract_messages

with logging_to(snakemake.log[0]):
    extract_messages(
        TrainedNetwork.of(snakemake.input),
        HaloTables.of(snakemake.output),
        HaloMessagesSpec.from_params(snakemake.params.spec),
        threads=snakemake.threads,
    )

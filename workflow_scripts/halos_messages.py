from symdistill.config import spec_from
from symdistill.halo_distillation import HaloMessagesSpec, extract_messages
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]):
    extract_messages(
        snakemake.input.model,
        snakemake.input.catalogue,
        snakemake.output.messages,
        snakemake.output.nodes,
        spec_from(HaloMessagesSpec, snakemake.params.spec, "halos_messages params"),
        threads=snakemake.threads,
    )

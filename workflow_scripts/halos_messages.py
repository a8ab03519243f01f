from symdistill.core.logs import logging_to
from symdistill.core.specs import spec_from
from symdistill.cosmology.messages import HaloMessagesSpec, extract_messages

with logging_to(snakemake.log[0]):
    extract_messages(
        snakemake.input.model,
        snakemake.input.catalogue,
        snakemake.output.messages,
        snakemake.output.nodes,
        spec_from(HaloMessagesSpec, snakemake.params.spec, "halos_messages params"),
        threads=snakemake.threads,
    )

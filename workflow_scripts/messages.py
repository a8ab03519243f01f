from symdistill.core.logs import logging_to
from symdistill.nbody.messages import MessageInputs, extract_messages

with logging_to(snakemake.log[0]):
    extract_messages(
        MessageInputs.of(snakemake.input), snakemake.output[0], snakemake.params.graphs, snakemake.params.seed
    )

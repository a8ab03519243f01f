from symdistill.core.logs import logging_to
from symdistill.nbody.messages import extract_messages

with logging_to(snakemake.log[0]):
    extract_messages(
        snakemake.input.model, snakemake.input.test, snakemake.output[0], snakemake.params.graphs, snakemake.params.seed
    )

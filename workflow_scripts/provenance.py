from symdistill.core.logs import logging_to
from symdistill.reporting.runrecords import write_provenance_record

with logging_to(snakemake.log[0]):
    write_provenance_record(
        snakemake.output[0], snakemake.params.commit, snakemake.params.resolved_config, snakemake.params.configfiles
    )

from symdistill.core.logs import logging_to
from symdistill.reporting.report import build_report
from symdistill.reporting.tables import TableSettings

with logging_to(snakemake.log[0]):
    build_report(
        snakemake.input,
        snakemake.output[0],
        TableSettings.from_params(snakemake.params.settings),
        snakemake.params.resolved_config,
        snakemake.params.commit,
        snakemake.params.benchmarks,
        snakemake.params.configfiles,
    )

from symdistill.core.logs import logging_to
from symdistill.reporting.compare import ComparisonFiles, write_comparison
from symdistill.reporting.runrecords import RunFiles

with logging_to(snakemake.log[0]) as log:
    verdict = write_comparison(
        RunFiles.of(snakemake.input).results,
        snakemake.params.cells,
        snakemake.params.other,
        ComparisonFiles.of(snakemake.output),
    )
    log.info("%s", verdict)
print(f"symdistill compare: {verdict}")

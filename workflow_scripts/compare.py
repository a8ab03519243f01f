from symdistill.core.logs import logging_to
from symdistill.reporting.compare import write_comparison
from symdistill.reporting.runrecords import results_folder

with logging_to(snakemake.log[0]) as log:
    verdict = write_comparison(
        results_folder(snakemake.input.provenance),
        snakemake.params.cells,
        snakemake.params.other,
        snakemake.output.summary,
        snakemake.output.page,
    )
    log.info("%s", verdict)
print(f"symdistill compare: {verdict}")

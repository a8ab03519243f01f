from symdistill.compare import write_comparison
from symdistill.logs import logging_to

with logging_to(snakemake.log[0]) as log:
    verdict = write_comparison(
        snakemake.params.results,
        snakemake.params.cells,
        snakemake.params.other,
        snakemake.output.summary,
        snakemake.output.page,
    )
    log.info("%s", verdict)
print(f"symdistill compare: {verdict}")

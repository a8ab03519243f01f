from symdistill.core.logs import logging_to
from symdistill.cosmology.evaluation import HaloCellFiles, HaloEvaluationSpec, evaluate_halos

with logging_to(snakemake.log[0]):
    evaluate_halos(
        snakemake.params.cell,
        HaloCellFiles.of(snakemake.input),
        snakemake.output.evaluation,
        snakemake.output.predictions,
        HaloEvaluationSpec.from_params(snakemake.params.spec),
    )

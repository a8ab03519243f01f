from symdistill.core.logs import logging_to
from symdistill.cosmology.evaluation import HaloCellFiles, HaloEvaluationOutputs, HaloEvaluationSpec, evaluate_halos

with logging_to(snakemake.log[0]):
    evaluate_halos(
        snakemake.params.cell,
        HaloCellFiles.of(snakemake.input),
        HaloEvaluationOutputs.of(snakemake.output),
        HaloEvaluationSpec.from_params(snakemake.params.spec),
    )

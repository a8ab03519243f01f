from symdistill.core.logs import logging_to
from symdistill.nbody.generalisation import evaluate_generalisation

with logging_to(snakemake.log[0]):
    evaluate_generalisation(
        snakemake.params.cell,
        snakemake.input.model,
        snakemake.input.test,
        dict(zip(snakemake.params.sets, snakemake.input.ood, strict=True)),
        snakemake.output[0],
        snakemake.input.get("replaced"),  # None where the cell's variant is not closed (framework.models)
        snakemake.input.get("symbolic"),
        snakemake.params.rollouts,
        snakemake.params.rollout_substeps,
        threads=snakemake.threads,
    )

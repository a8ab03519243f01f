from symdistill.core.logs import logging_to
from symdistill.nbody.generalisation import GeneralisationInputs, evaluate_generalisation

with logging_to(snakemake.log[0]):
    evaluate_generalisation(
        snakemake.params.cell,
        GeneralisationInputs.of(snakemake.input),  # replaced, symbolic: None where the variant is not closed
        snakemake.params.sets,
        snakemake.output[0],
        snakemake.params.r_min,
        snakemake.params.rollouts,
        snakemake.params.rollout_substeps,
        threads=snakemake.threads,
    )

from symdistill.core.logs import logging_to
from symdistill.nbody.hypothesis_ood import HypothesisInputs, Tolerances, simulate_hypothesis_ood
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.simulate import Shift

with logging_to(snakemake.log[0]):
    simulate_hypothesis_ood(
        HypothesisInputs.of(snakemake.input),
        Shift.from_params(snakemake.params.shift),
        Tolerances.from_params(snakemake.params.tolerances),
        PairLaw.from_params(snakemake.params.law),
        snakemake.output[0],
    )

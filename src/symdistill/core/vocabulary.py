"""The pipeline's shared words, defined once: the judge's outcomes and readings, the marks the tables print, and
the figures of a cell.

Every stage that names one of these imports it from here. The module imports nothing, so the light stages
(tables, report, the Snakefile itself) read the vocabulary without pulling in PyTorch or JAX, and a word added
here reaches the judge, the tables, the report and the figures rule together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- the judge

OUTCOMES = ("strict", "on_front", "partial", "fail")  # a judged front's outcomes, best first
NO_RESULT = "no_result"  # the search left no front to judge
VERDICTS = (*OUTCOMES, NO_RESULT)  # every outcome Table 5 shows
NO_LAW = "no_law"  # a system given as data without a law: its selected equation is reported, not judged
JUDGE_OUTCOMES = (*VERDICTS, NO_LAW)  # every outcome a judge JSON can record


def judged_without_law(judge: Mapping[str, Any]) -> bool:
    """Whether a judge record is of a system without a law (outcome ``no_law``): such a cell has no force fit and no
    verdict, and its front members carry their held-out fit instead. The one test every stage makes of it."""
    return judge.get("outcome", {}).get("physical") == NO_LAW


RECOVERED = ("strict", "on_front")  # the law is on the front: the default of ``report.success``

# A reading accepts the law in any of its bases (symdistill.nbody.messages.true_forces): ``physical`` as the paper did,
# force or acceleration F/m₁; ``receiver_scaled`` also F times any function of the receiver's mass.
READINGS: dict[str, tuple[str, ...]] = {
    "physical": ("force", "acceleration"),
    "receiver_scaled": ("force", "acceleration", "receiver"),
}
ENERGY_READINGS: dict[str, tuple[str, ...]] = {reading: ("potential",) for reading in READINGS}  # FlatHGN

# ---------------------------------------------------------------- the tables

PRUNABLE = ("gn", "pm", "cust")  # architectures whose φe outputs the message itself: a pruned variant masks it
TABLES = ("table5_success", "table1_r2", "table3_loss")  # results/tables/{name}.{csv,md,html}, the paper's order

SYMBOLS = {"strict": "✓", "on_front": "⋆", "partial": "◦", "fail": "✗", "no_result": "∅", "no_law": "·"}
LEGEND = {
    "strict": "the selected equation is the law",
    "on_front": "the law is on the Pareto front but not selected",
    "partial": "a front member is the law's form but does not fit the message",
    "fail": "no front member is the law",
    "no_result": "the symbolic search failed and left no front",
    "no_law": "no law is known to judge against (a system given as data without law:)",
}
TIMEOUT = "⏱"  # a seed whose search stopped at symbolic.budget.time_limit: judged, but not a reproducible verdict
NOT_RUN = "—"  # a paper cell this run did not produce: never a failure, never counted
NO_VALUE = "n/a"  # a reference without a value for the cell


# ---------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Figure:
    """One of a cell's figures: results/figures/{cell}/{name}.png, captioned by report/{name}.rst in Snakemake's
    report and by ``caption`` in ours; ``label`` names it among a cell's figures in Snakemake's report."""

    name: str
    label: str
    caption: str


FIGURES = {
    f.name: f
    for f in (
        Figure(
            "sparsity",
            "message sparsity",
            "Message sparsity: each component's std over epochs; the most significant highlighted.",
        ),
        Figure(
            "force_fit",
            "messages vs force",
            "The most significant messages against their best linear combination of the true force (Fig. 3); for a "
            "system without a known law, against the distance r.",
        ),
        Figure(
            "pareto",
            "Pareto front",
            "Symbolic regression's Pareto front: the selected member and the members the judge accepted.",
        ),
        Figure("training", "training curves", "Training and test loss per epoch, with the learning rate."),
        Figure(
            "trajectory",
            "trajectory",
            "The GNN integrated from a test simulation's first snapshot (dashed) against the truth (solid).",
        ),
        Figure(
            "generalisation",
            "generalisation",
            "Relative error on the test split and each out-of-distribution set, and the rollout error and energy "
            "drift against time, for the GN and (closed variants) the GN with symbolic φe and the symbolic model.",
        ),
    )
}

# ---------------------------------------------------------------- the framework closed, out of distribution

# The models a cell's generalisation file scores (results/generalisation/{cell}.json), in the framework's order:
# the network, the network with φe replaced by its equations (φv retrained), the model with no network left.
STORED_TRAJECTORY = "truth"  # the generalisation record's name for the stored trajectory (its energy drift)
GENERALISATION_MODELS = {"gn": "GN", "symbolic_edge": "GN with symbolic φe", "symbolic": "symbolic model"}

# ---------------------------------------------------------------- the cosmology experiment

HALO_SPLITS = {"random": "random hold-out", "ood": "out of distribution (δ ≤ cut trains, δ > cut tests)"}
HALO_FIGURES = {
    f.name: f
    for f in (
        Figure(
            "halo_sparsity",
            "halo message sparsity",
            "Each message component's std over the epochs; the most significant highlighted (the paper: one).",
        ),
        Figure(
            "halo_kernel",
            "φe against distance",
            "The most significant message against the pair's distance, coloured by the sender's mass; the selected "
            "φe equation (and, for a synthetic catalogue, the planted law, scaled) at three sender masses.",
        ),
        Figure(
            "halo_prediction",
            "δ predicted",
            "Predicted against true δ on the test halos: the GN, the distilled symbolic model and the paper's "
            "best formula refitted; the mean |δ − δ̂| of each in the legend.",
        ),
    )
}

"""Symbolic regression: how many generations pyoperon needs to put the true force law on its Pareto front.

For each of spring, r1, r2 and charge in 2D and 3D, a synthetic message of the kind a well-trained GN sends
(an affine map of the pair force, plus 1 % noise; for r1 and r2 of the acceleration F/m₁, the form the
paper found, ∝ m₂Δ/r^α) on 5,000 edges between nodes drawn like the simulations' initial conditions, the
sender at a log-uniform distance in [0.3, 6]; the search fits ``samples`` of them, as the rule does. Searches run
with the pipeline's settings (config.yaml ``symbolic``) and rising budgets of generations, a fresh seeded search
per budget, until the judge accepts a front member on *other* such edges (there both held-out and probe edges):
affine in the law (R² ≥ 0.999) and fitting the message within 0.01 of the law's own fit. Target: ≤ 60 s each
on 2 threads. The outcome for a budget is reproducible (the search stops after its generations); its wall time
is this machine's.

    python benchmarks/symbolic.py [--budgets 20 40 80 160 320] [--threads 2] [--preset demo]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

from symdistill.engine.budget import SearchBudget  # noqa: E402
from symdistill.engine.front import front_table  # noqa: E402
from symdistill.engine.search import SearchSpec, search  # noqa: E402
from symdistill.nbody.judge import JudgeSpec, force_domain, fresh_edges, judge_component  # noqa: E402
from symdistill.nbody.messages import true_forces  # noqa: E402
from symdistill.nbody.symbolic import fitting_sample, input_names  # noqa: E402
from symdistill.nbody.systems import get_system  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = ("spring", "r1", "r2", "charge")
PER_RECEIVER_MASS = ("r1", "r2")  # messages ∝ F/m₁ = m₂Δ/r^α, as the paper's Table 4
EDGES, R_MAX, NOISE = 5000, 6.0, 0.01
JUDGE = JudgeSpec(
    edges=EDGES,
    truth_r2=0.999,
    fit_margin=0.01,
    keep_fraction=0.9,
    r_min=0.3,
    range_factor=1.0,
    receiver_bins=10,
    seed=0,
)


def nodes(sim: str, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(1000, 4, 2·dim + 2) node features drawn as the simulations' initial conditions are."""
    x = rng.normal(size=(1000, 4, 2 * dim + 2))
    x[..., -1] = np.exp(x[..., -1])
    if get_system(sim).charged:
        x[..., -2] = np.sign(x[..., -2])
    return x


def law(sim: str, frame, dim: int) -> np.ndarray:
    force = true_forces(sim, frame, dim, 4)
    return force / frame[["m1"]].to_numpy() if sim in PER_RECEIVER_MASS else force


def message(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fixed affine map of the law's components with 1 % noise."""
    mixed = values @ np.array([0.8, -0.3, 0.5][: values.shape[1]]) + 0.2
    return mixed + NOISE * mixed.std() * rng.normal(size=len(mixed))


def recovered(sim: str, dim: int, spec: SearchSpec, threads: int) -> tuple[str, float, str]:
    """(judge outcome, search seconds, selected equation) of one search with ``spec``'s budget."""
    names = input_names(dim)
    edges = fresh_edges(nodes(sim, dim, np.random.default_rng(1)), dim, JUDGE, R_MAX)
    sample = fitting_sample(edges.assign(message=message(law(sim, edges, dim), np.random.default_rng(3))), spec)
    test_frame = fresh_edges(nodes(sim, dim, np.random.default_rng(2)), dim, replace(JUDGE, seed=1), R_MAX)
    started = time.perf_counter()
    found = search(sample[names].to_numpy(), sample["message"].to_numpy(), names, spec, threads)
    seconds = time.perf_counter() - started
    if found.status != "ok":
        raise RuntimeError(f"{sim} {dim}D: the search ended with {found.status}: {found.message}")
    front = front_table(list(found.candidates), names, sample, sample["message"].to_numpy(), spec)
    domain = force_domain(sim, test_frame, dim, 4, names, JUDGE.receiver_bins)  # held-out and probe edges alike
    message_there = message(law(sim, test_frame, dim), np.random.default_rng(4))
    verdict = judge_component(front, message_there, domain, domain, JUDGE)
    selected = front.loc[front["selected"], "equation"].iloc[0]
    return verdict["outcome"]["physical"], seconds, selected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40, 80, 160, 320], help="generations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--preset", help="apply presets/PRESET.yaml's symbolic settings over config.yaml's")
    args = parser.parse_args()
    settings = yaml.safe_load((ROOT / "config.yaml").read_text())["symbolic"]
    if args.preset:
        settings |= yaml.safe_load((ROOT / "presets" / f"{args.preset}.yaml").read_text()).get("symbolic", {})
    base = SearchSpec(**settings, seed=0)
    rows = []
    for sim in SYSTEMS:
        for dim in (2, 3):
            outcome, seconds, budget, equation = "fail", float("nan"), None, ""
            for budget in args.budgets:
                spec = replace(base, budget=SearchBudget(budget, base.budget.time_limit))
                outcome, seconds, equation = recovered(sim, dim, spec, args.threads)
                print(f"{sim} {dim}D, {budget} generations: {outcome} ({seconds:.0f} s) {equation}", flush=True)
                if outcome in ("strict", "on_front"):
                    break
            found = f"**{budget}**" if outcome in ("strict", "on_front") else f"not within {args.budgets[-1]}"
            rows.append(f"| {sim} | {dim}D | {found} | {seconds:.0f} s | {outcome} | `{equation}` |")
    record(
        f"Symbolic regression (pyoperon, synthetic messages, {args.preset or 'config.yaml'} settings)",
        "| system | dim | fewest generations with the law on the front | search wall time | judge | selected equation |\n"  # noqa: E501 — one Markdown line
        "|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nBudgets tried in order: {', '.join(map(str, args.budgets))} generations (a fresh search each). "
        f"Messages: an affine map of the pair force (r1, r2: of F/m₁) plus {NOISE:.0%} noise on {EDGES:,} edges; "
        f"search settings from config.yaml{f' and presets/{args.preset}.yaml' if args.preset else ''} "
        f"(`symbolic`: {', '.join(base.operators)}; {base.samples:,} samples at r ≥ {base.r_min}; population "
        f"{base.population_size}; max length {base.max_length}; {base.optimizer_iterations} Levenberg–Marquardt "
        f"iterations; selection '{base.selection}'); {args.threads} threads. Target ≤ 60 s each. Command: "
        f"`python benchmarks/symbolic.py{f' --preset {args.preset}' if args.preset else ''}`.",
    )


if __name__ == "__main__":
    main()

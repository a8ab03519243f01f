"""Per-cell result files with chosen numbers, written by the stages' own code, for the table and report tests.

- training: ``train.write_outputs`` on a real (tiny, untrained) run, with the test loss we choose;
- force fit: ``forcefit.force_fit`` on a synthetic message table whose messages are the force plus noise;
- judge: the verdict of ``judge.outcome`` / ``judge.worst`` on front members whose pass/fail flags produce the
  outcomes we ask for (checked), in the judge's record layout;
- symbolic: result.json in ``symbolic.fit_symbolic``'s layout; figures: PNGs through ``figures.save``;
- datasets: a training set through ``data.DatasetWriter`` (its provenance is what the report reads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from conftest import tiny_training_spec
from matplotlib.figure import Figure

from symdistill.core.io import package_versions, write_json
from symdistill.core.names import Cell, parse_dataset
from symdistill.core.plotting import save
from symdistill.core.vocabulary import FIGURES, READINGS
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody.data import DatasetWriter, feature_names
from symdistill.nbody.forcefit import force_fit
from symdistill.nbody.judge import outcome, worst
from symdistill.nbody.messages import write_messages
from symdistill.nbody.train import Trained, new_run, write_outputs

BASES = ("force", "acceleration", "receiver")
CELL = "spring_2d_n4/bottleneck/seed0"


def write_training(root: Path, cell: Cell, test_loss: float) -> None:
    spec = tiny_training_spec()
    run = new_run(spec, torch.device("cpu"))
    run.history = [
        {
            "epoch": e,
            "train_loss": 3.0 / e,
            "test_loss": 3.5 / e,
            "lr": 1e-3 / e,
            "graphs": 1024 * e,
            "seconds": 0.5,
            "message_std": [0.1 * (k + 1) / e for k in range(8)],
        }
        for e in (1, 2, 3)
    ]
    run.epoch = 3
    base = root / "results" / "models" / cell.path
    trained = Trained(cell.path, torch.device("cpu"), 1, ("0" * 64, "1" * 64), test_loss, 100, 1.5)
    write_outputs(
        run, spec, trained, TrainingOutputs(base / "model.pt", base / "history.parquet", base / "metrics.json")
    )


def write_dataset(root: Path, dataset: str, sims: int = 2, nt: int = 100, keep_every: int = 5) -> Path:
    """A training set through the simulate stage's writer: ``sims`` simulations of one zero snapshot each, with
    the provenance a real one carries (what the report reads from it)."""
    d = parse_dataset(dataset)
    path = root / "results" / "data" / dataset / "train.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"sim": d.sim, "dim": d.dim, "n": d.n, "n_sims": sims, "n_steps": 1, "nt": nt, "keep_every": keep_every}
    with DatasetWriter(path, {**meta, "split": "train"}) as writer:
        states = np.zeros((sims, 1, d.n, len(feature_names(d.dim))))
        writer.write(np.arange(sims), np.zeros(1), np.zeros(1), states, np.zeros((sims, 1, d.n, d.dim)))
    return path


def write_forcefit(root: Path, cell: Cell, noise: float) -> dict[str, Any]:
    """Messages = a fixed mix of the true force + ``noise`` × N(0, 1): 0 gives R² = 1, large noise R² → 0."""
    rng = np.random.default_rng(cell.seed + 17 * len(cell.path))
    force = rng.normal(size=(2000, 2))
    messages = force @ np.array([[0.8, 0.3], [-0.2, 0.9]]) + noise * rng.normal(size=(2000, 2))
    frame = pd.DataFrame(
        {
            "fx": force[:, 0],
            "fy": force[:, 1],
            "m1": np.exp(rng.normal(size=2000)),
            "e0": messages[:, 0],
            "e1": messages[:, 1],
        }
    )
    record = force_fit(frame, {"cell": cell.path, "system": {"dim": 2}, "ranked_components": ["e0", "e1"]}, 0.9)
    write_json(root / "results" / "forcefit" / f"{cell.path}.json", record)
    return record


def write_energy_fit(root: Path, cell: Cell) -> dict[str, Any]:
    """FlatHGN's force-fit record: its pair energy = 0.5·U + 0.1·q1 fitted against the potential."""
    rng = np.random.default_rng(cell.seed)
    u, q1 = rng.normal(size=2000), rng.choice([-1.0, 1.0], size=2000)
    frame = pd.DataFrame({"u": u, "q1": q1, "q2": 1.0, "m1": 1.0, "m2": 1.0, "e0": 0.5 * u + 0.1 * q1})
    record = force_fit(
        frame, {"cell": cell.path, "system": {"dim": 2}, "message": "energy", "ranked_components": ["e0"]}, 0.9
    )
    write_json(root / "results" / "forcefit" / f"{cell.path}.json", record)
    return record


def _member(complexity: int, selected: bool, passes: set[str], affine: set[str]) -> dict[str, Any]:
    return {
        "complexity": complexity,
        "selected": selected,
        "sympy": f"{complexity}*dx/r",
        "truth_r2": {b: 1.0 if b in affine else 0.5 for b in BASES},
        "fit_r2": {b: 0.9 for b in BASES},
        "affine": {b: b in affine for b in BASES},
        "passes": {b: b in passes for b in BASES},
        "law_fit": {b: {"weights": [0.5, -0.25], "offset": 0.0} for b in passes if b != "receiver"},
    }


def front_members(physical: str, receiver_scaled: str) -> list[dict[str, Any]]:
    """A selected and another member whose flags make the judge conclude the two outcomes asked for."""
    flags = {"selected": (set(), set()), "other": (set(), set())}
    for wanted, basis in ((physical, "force"), (receiver_scaled, "receiver")):
        if wanted == "strict":
            flags["selected"][0].add(basis)
        elif wanted == "on_front":
            flags["other"][0].add(basis)
        if wanted in ("strict", "on_front", "partial"):
            flags["selected" if wanted == "strict" else "other"][1].add(basis)
    members = [_member(7, True, *flags["selected"]), _member(11, False, *flags["other"])]
    got = {reading: outcome(members, bases) for reading, bases in READINGS.items()}
    assert got == {"physical": physical, "receiver_scaled": receiver_scaled}, (
        f"no members give {physical}/{receiver_scaled}"
    )
    return members


def write_judge(
    root: Path,
    cell: Cell,
    physical: str,
    receiver_scaled: str | None = None,
    law_r2: float = 0.95,
    symbolic_status: str = "ok",
) -> dict[str, Any]:
    """The judge's record for one cell; ``physical == "no_result"`` writes the record of a failed search, and
    ``symbolic_status="timeout"`` that of a front judged after its search stopped at the time limit."""
    path = root / "results" / "judge" / f"{cell.path}.json"
    settings = {
        "edges": 1000,
        "truth_r2": 0.999,
        "fit_margin": 0.01,
        "r_min": 0.3,
        "range_factor": 1.5,
        "receiver_bins": 10,
        "seed": cell.seed,
    }
    if physical == "no_result":
        record = {
            "cell": cell.path,
            "settings": settings,
            "symbolic_status": "error",
            "outcome": {reading: "no_result" for reading in READINGS},
            "reason": "killed after 128 s: the pyoperon search ignored its time_limit of 4 s",
        }
    else:
        members = front_members(physical, receiver_scaled or physical)
        component = {
            "component": "e0",
            "ceiling_r2": {b: law_r2 for b in BASES},
            "members": members,
            "outcome": {reading: outcome(members, bases) for reading, bases in READINGS.items()},
        }
        record = {
            "cell": cell.path,
            "settings": settings,
            "symbolic_status": symbolic_status,
            "probe_edges": 1000,
            "probe_r_range": [0.3, 6.0],
            "r_train_p99": 4.0,
            "heldout_graphs": 84,
            "heldout_edges": 1008,
            "components": [component],
            "readings": {reading: list(bases) for reading, bases in READINGS.items()},
            "outcome": {reading: worst([component["outcome"][reading]]) for reading in READINGS},
            "law_r2": {reading: max(component["ceiling_r2"][b] for b in bases) for reading, bases in READINGS.items()},
        }
    write_json(path, record)
    return record


def write_symbolic(root: Path, cell: Cell, status: str = "ok") -> None:
    """result.json of a search that ran its generations (ok), stopped at the time limit with a front (timeout),
    or left none (error)."""
    generations = {"ok": 60, "timeout": 31, "error": None}[status]
    component: dict[str, Any] = {
        "component": "e0",
        "status": status,
        "generations": generations,
        "evaluations": None if generations is None else 900 * generations,
    }
    if status != "error":
        component |= {
            "front_size": 2,
            "selected": {"complexity": 7, "loss": 0.1, "score": 0.5, "equation": "7*dx/r", "sympy": "7*dx/r"},
        }
    if status != "ok":
        component["message"] = {
            "timeout": "stopped at time_limit 4 s after 31 generations",
            "error": "killed after 128 s: the pyoperon search ignored its time_limit of 4 s",
        }[status]
    write_json(
        root / "results" / "symbolic" / cell.path / "result.json",
        {
            "cell": cell.path,
            "status": status,
            "backend": "pyoperon",
            "settings": {"backend": "pyoperon", "budget": {"generations": 60, "time_limit": 4}},
            "seed": cell.seed,
            "inputs": ["dx", "dy", "r", "m1", "m2", "q1", "q2"],
            "samples": 1000,
            "components": [component],
            "package_versions": package_versions(("symdistill", "pyoperon", "sympy", "numpy")),
            "run": {"threads": 2, "wall_seconds": 4.2, "seconds": {"e0": 4.2}},
        },
    )


def figure_paths(root: Path, cell: Cell) -> list[Path]:
    return [root / "results" / "figures" / cell.path / f"{name}.png" for name in FIGURES]


def write_figures(root: Path, cell: Cell) -> None:
    for path in figure_paths(root, cell):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot([0, 1], [1, 0])
        save(fig, path)


def synthetic_messages(root: Path, cell: str = CELL, n: int = 3000) -> tuple[pd.DataFrame, dict]:
    """A spring 2D message table whose two messages are rotations of the true pair force, and its metadata."""
    rng = np.random.default_rng(0)
    dx, dy = rng.normal(scale=1.5, size=(2, n))
    r = np.hypot(dx, dy)
    frame = pd.DataFrame(
        {
            "graph": np.arange(n) // 12,  # a 4-body graph has 12 edges
            "dx": dx,
            "dy": dy,
            "r": r,
            "m1": np.exp(rng.normal(size=n)),
            "m2": np.exp(rng.normal(size=n)),
            "q1": 1.0,
            "q2": 1.0,
            "fx": -dx * (r - 1) / r,
            "fy": -dy * (r - 1) / r,
            "u": (r - 1) ** 2,
        }
    )
    frame["e0"] = 0.8 * frame["fx"] - 0.3 * frame["fy"]
    frame["e1"] = 0.3 * frame["fx"] + 0.9 * frame["fy"]
    meta = {
        "format": "symdistill.messages/1",
        "cell": cell,
        "system": {"sim": "spring", "dim": 2, "n": 4},
        "message": "force",
        "ranked_components": ["e0", "e1"],
        "sample": {"graphs": -(-n // 12), "seed": 0, "test_file": "test.parquet"},
    }
    return frame, meta


def write_message_file(root: Path, frame: pd.DataFrame, meta: dict, cell: str = CELL) -> Path:
    path = root / f"results/messages/{cell}.parquet"
    write_messages(frame, meta, path)
    return path

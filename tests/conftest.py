"""Shared fixtures: the repository root and small, real simulation specs."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from symdistill.nbody import laws
from symdistill.nbody.data import SplitFiles
from symdistill.nbody.simulate import SimulationSpec

ROOT = Path(__file__).resolve().parents[1]
DT = {
    "r1": 5e-3,
    "r2": 1e-3,
    "spring": 1e-2,
    "damped": 2e-2,
    "charge": 1e-3,
    "superposition": 1e-3,
    "discontinuous": 1e-2,
    "string": 1e-2,
}


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``make test`` runs one pytest-xdist worker per CPU with ``--dist loadscope``; here a scope is a module, and
    every module that reads the session's smoke run shares one scope (a session fixture is built once per worker:
    two workers would run the DAG twice). Modules are named by their source (the word ``smoke_run``), because the
    controller collects nothing. xdist's own ``loadgroup`` cannot do this on pytest 9.2: its group suffix no longer
    reaches the test ids (pytest-xdist issue 1386)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SmokeRunScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "smoke_run" if Path(module).name in smoke_run_modules() else module

    return SmokeRunScope(config, log)


@functools.cache
def smoke_run_modules() -> frozenset[str]:
    return frozenset(p.name for p in (ROOT / "tests").glob("test_*.py") if "smoke_run" in p.read_text())


FIRST = ("test_slurm.py", "test_own_system.py")  # after the smoke run's modules: the other whole-DAG runs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest chains first: the smoke run's modules, then the SLURM run and the example system's run, then
    the rest in file order. xdist hands out scopes in this order (``--no-loadscope-reorder``; its default, most
    tests first, started the SLURM run last), so on two workers the smoke run and the SLURM run start together."""
    rank = {name: i + 1 for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: 0 if item.path.name in smoke_run_modules() else rank.get(item.path.name, len(rank) + 1))


@pytest.fixture(autouse=True)
def own_laws_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no researcher's law registered: the registry lives as long as a process, which for a
    run is one config, but pytest runs many configs in one process (two tests may name different laws 'yukawa')."""
    monkeypatch.setattr(laws, "_REGISTERED", {})


def deep_merge(base: dict, update: dict) -> None:
    """``update`` merged into ``base`` in place, mappings key by key: how Snakemake applies each --configfile."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value


def small_spec(sim: str, dim: int = 2, n: int = 4, **overrides) -> SimulationSpec:
    values = dict(
        sim=sim,
        dim=dim,
        n=n,
        dt=DT[sim],
        nt=100,
        keep_every=5,
        train_sims=12,
        test_sims=4,
        split="seed",
        seed=0,
        test_seed=1,
        time_test_fraction=0.25,
        rtol=1.4e-8,
        atol=1.4e-8,
        mxstep=2000,
    )
    values.update(overrides)
    return SimulationSpec(**values)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def spring_data(tmp_path_factory) -> tuple[Path, Path]:
    """A small real spring 2D n=4 dataset (30 + 10 simulations, 20 snapshots each)."""
    from symdistill.nbody.simulate import simulate_dataset

    out = tmp_path_factory.mktemp("spring_data")
    simulate_dataset(
        small_spec("spring", train_sims=30, test_sims=10), SplitFiles(out / "train.parquet", out / "test.parquet")
    )
    return out / "train.parquet", out / "test.parquet"


def tiny_training_spec(regularizer: str = "none", architecture: str = "gn", msg_dim: int = 8, **training):
    from symdistill.nbody.train import TrainingSpec

    values = dict(
        epochs=3,
        graphs_per_epoch=1024,
        batch_size=32,
        max_lr=1e-3,
        final_div_factor=1e5,
        weight_decay=1e-8,
        augment_sigma=3.0,
        monitor_graphs=64,
        divergence_factor=1000.0,
    )
    values.update(training)
    return TrainingSpec.from_params(
        dict(
            model={
                "architecture": architecture,
                "msg_dim": msg_dim,
                "hidden": 32,
                "regularizer": regularizer,
                "reg_weight": {"l1": 1e-2, "hamiltonian": 1e-6}.get(regularizer, 1.0),
                "reg_scope": "all_graphs",
                "loss": "mae",
                "huber_delta": 1.0,
            },
            training=values,
            system={"sim": "spring", "dim": 2, "n": 4},
            seed=0,
        )
    )


def train_tiny_cell(tmp: Path, data: tuple[Path, Path], spec, threads: int = 1) -> Path:
    """``spec`` trained on ``data`` (``spring_data``'s splits) as cell spring_2d_n4/test/seed0 in ``tmp``/cell."""
    from symdistill.engine.training import TrainingOutputs
    from symdistill.nbody.data import SplitFiles
    from symdistill.nbody.train import train_cell

    out = tmp / "cell"
    train_cell(
        spec,
        "spring_2d_n4/test/seed0",
        SplitFiles(*data),
        TrainingOutputs(out / "model.pt", out / "history.parquet", out / "metrics.json"),
        threads=threads,
    )
    return out


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke preset's whole DAG, run for real once per test session (the suite's most expensive step): tests
    that only read it share it; a test that changes or extends a run works on ``copied_run(smoke_run, ...)``."""
    from workflow import snakemake

    workdir = tmp_path_factory.mktemp("smoke")
    snakemake(workdir)
    return workdir


def copied_run(source: Path, target: Path) -> Path:
    """A copy of a finished run (results and Snakemake's records, times kept): what its dry runs see is the
    original's, and what a test reruns there leaves the shared run as it was."""
    shutil.copytree(source, target, symlinks=True)
    return target

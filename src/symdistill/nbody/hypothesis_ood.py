"""Out-of-distribution sets of a system given as data, simulated under the law it is supposed to obey.

A built-in's OOD set is its test split's simulations started from shifted initial conditions (``simulate.Shift``).
A system given as data has no simulator of its own, but where its config states the law (``systems.NAME.law``)
ours can integrate that law: the set starts from each test simulation's first stored state, shifted as declared,
and is integrated by our Dormand–Prince (``simulation.rtol``, ``atol``, ``mxstep``) to the test simulation's own
stored times. So the set differs from the test split in its initial conditions, and in that its trajectories obey
the hypothesis exactly where the data may not: a network that fits the data but not the law is scored on the law.
A shift of the number of bodies cannot be made from stored states (there is no body to add or pick), so such a
set is not built for these systems (``config.params.ood_sets`` leaves it out; the Snakefile says so).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from symdistill.core.bundles import Files
from symdistill.core.io import package_versions
from symdistill.core.names import Dataset
from symdistill.core.specs import Spec
from symdistill.nbody.data import DatasetWriter, Split, read_split, stored_times
from symdistill.nbody.integrator import integrate
from symdistill.nbody.laws import PairLaw
from symdistill.nbody.simulate import SLOTS, Shift
from symdistill.nbody.systems import use

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tolerances(Spec):
    """The integrator's settings, as for a simulated system (config ``simulation``)."""

    rtol: float
    atol: float
    mxstep: int


def first_states(path: str | Path, test: Split) -> tuple[np.ndarray, np.ndarray]:
    """Each test simulation's first stored state (sims, n, f), float64, and its stored times from there (steps,):
    one time grid for all, which a set integrated together needs."""
    times = stored_times(path, test).reshape(-1, test.metadata["n_steps"])
    relative = times - times[:, :1]
    if not np.allclose(relative, relative[:1], rtol=1e-9, atol=1e-12 * np.abs(relative).max()):
        worst = int(np.argmax(np.abs(relative - relative[:1]).max(axis=1)))
        raise ValueError(
            f"{path}: test simulation {worst} is sampled at other times (from its start) than simulation 0; an "
            "out-of-distribution set is integrated to one time grid"
        )
    x = test.x.reshape(len(times), -1, test.n, test.x.shape[-1])
    return x[:, 0].astype(np.float64), relative[0]


@dataclass(frozen=True)
class HypothesisInputs(Files):
    """Rule ``hypothesis_ood``'s input: the test split of the system given as data."""

    test: Path


def simulate_hypothesis_ood(
    inputs: HypothesisInputs, shift: Shift, tolerances: Tolerances, law: PairLaw, path: str | Path
) -> None:
    """Rule ``hypothesis_ood`` (``ood`` for a system given as data with a law): the set ``shift`` of its test split,
    integrated under ``law``. Its metadata is the test split's, less the file's provenance, with ``split_name``
    ``ood/{name}``, ``ood`` (the dataset and the shift) and the integrator."""
    test_path = inputs.test
    test = read_split(test_path)
    meta = test.metadata
    if law.name != meta["sim"]:
        raise ValueError(f"the law of {law.name!r} given for a dataset of {meta['sim']!r}")
    if shift.n_bodies is not None:  # as config.params.data_ood_left_out: a set that sets the bodies at all
        raise ValueError(f"set {shift.name!r} changes the number of bodies, which stored states cannot")
    use(law)
    x0, times = first_states(test_path, test)
    with jax.enable_x64(True):
        start = shift.apply(jnp.asarray(x0), test.dim)
        states, accel, attempts = (
            np.asarray(a)
            for a in integrate(
                meta["sim"], test.dim, tolerances.rtol, tolerances.atol, tolerances.mxstep * (len(times) - 1),
                min(SLOTS, len(x0)), jnp.transpose(start, (1, 2, 0)), jnp.asarray(times),
            )
        )  # fmt: skip
    if (attempts == 0).any() or not (np.isfinite(states).all() and np.isfinite(accel).all()):
        raise FloatingPointError(
            f"{meta['sim']}: set {shift.name!r}: simulations {np.flatnonzero(attempts == 0).tolist()[:10]} did not "
            "finish within mxstep × (steps − 1) step attempts, or left the numbers"
        )
    trained_on = Dataset(meta["sim"], test.dim, test.n).name
    out = {k: v for k, v in meta.items() if k not in ("trajectories", "format")}
    out |= {
        "split_name": f"ood/{shift.name}",
        "split_method": "the test split's first states, shifted, integrated under the supposed law",
        "rule": "hypothesis_ood",  # not ood's: a read error names the rule that rebuilds the file
        "ood": {"dataset": trained_on, **asdict(replace(shift, n_bodies=test.n))},
        "integrator": f"adaptive Dormand-Prince 5(4), float64, under the supposed law ({asdict(tolerances)})",
        "package_versions": package_versions(),
    }
    with DatasetWriter(path, out) as writer:
        sims = np.arange(len(x0))
        writer.write(sims, np.arange(len(times)), times, states, accel)
    log.info(
        "%s: set %s, %d simulations × %d steps under the supposed law", trained_on, shift.name, len(x0), len(times)
    )

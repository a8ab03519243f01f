"""From the validated config to each rule's params.

Imported by the Snakefile (rules/common.smk), never by a stage: a stage receives its params as plain data and reads
them into its spec. Every function returns plain data with sorted keys: Snakemake stores the ``repr`` of each
rule's params and reruns a job when it changes, so the params must change exactly when a result would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from itertools import product
from typing import Any

from symdistill.core.names import Cell, ConfigError, Dataset, parse_dataset, shown
from symdistill.nbody import laws

TARGET = "named by a requested file's path"  # what named a variant, system or set the config lacks


TEST_FRACTION = 0.2  # systems.NAME.test_fraction's default: the share of a trajectory file's simulations tested
SPLIT_SEED = 0  # systems.NAME.split_seed's default


def user_law(name: str, spec: Mapping[str, Any]) -> laws.PairLaw:
    """A researcher's law: the potential simulated, or, for trajectories given as data, the law they suppose."""
    return laws.PairLaw(name, spec.get("potential", spec.get("law")), float(spec.get("softening", laws.SOFTENING)))


def given_as_data(config: Mapping[str, Any], sim: str) -> bool:
    """Whether ``sim`` is a system given as trajectories (``systems.NAME.trajectories``), not simulated."""
    return "trajectories" in config.get("systems", {}).get(sim, {})


def has_law(config: Mapping[str, Any], sim: str) -> bool:
    """Whether ``sim`` has a pair law: a built-in, a simulated system of one's own, or one given as data with the
    law it is supposed to obey (``systems.NAME.law``). Without one, nothing is judged and Table 1 leaves it out."""
    spec = config.get("systems", {}).get(sim, {})
    return not given_as_data(config, sim) or "law" in spec


def law_cells(config: Mapping[str, Any]) -> list[Cell]:
    """The cells whose system has a pair law (``has_law``): those with a force fit (rule forcefit)."""
    return [c for c in cells(config) if has_law(config, parse_dataset(c.dataset).sim)]


def dataset_pattern(config: Mapping[str, Any], data: bool) -> str:
    """The ``dataset`` wildcard's pattern for rule ``trajectories`` (``data``) or ``simulate``: the names of the
    systems given as data, or any other name, so that each dataset has exactly one rule that writes it."""
    names = "|".join(sorted(s for s in config.get("systems", {}) if given_as_data(config, s)))
    if data:
        return rf"(?:{names})_[23]d_n\d+" if names else "(?!)"
    return (rf"(?!(?:{names})_[23]d_n)" if names else "") + r"[a-z0-9]+_[23]d_n\d+"


def trajectory_params(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The ``TrajectorySpec`` of a dataset of a system given as data: the file, the split and the supposed law."""
    sim = parse_dataset(dataset).sim
    spec = config["systems"][sim]
    law = asdict(user_law(sim, spec)) if "law" in spec else None
    return {
        "dataset": dataset,
        "law": law,
        "path": spec["trajectories"],
        "split_seed": int(spec.get("split_seed", SPLIT_SEED)),
        "test_fraction": float(spec.get("test_fraction", TEST_FRACTION)),
    }


def pair_law(config: Mapping[str, Any], sim: str) -> dict[str, Any]:
    """The fields of ``sim``'s PairLaw: the simulate rule's ``law`` param, recorded in its datasets."""
    own = config.get("systems", {})
    return asdict(user_law(sim, own[sim]) if sim in own else laws.builtin_law(known_system(config, sim)))


def search_operators(config: Mapping[str, Any], sim: str) -> list[str]:
    """The search's operators for ``sim``: its own (``systems.NAME.operators``), else ``symbolic.operators``."""
    return list(config.get("systems", {}).get(sim, {}).get("operators", config["symbolic"]["operators"]))


def search_params(config: Mapping[str, Any], dataset: str, seed: int) -> dict[str, Any]:
    """The symbolic rule's settings for one cell."""
    sim = known_system(config, parse_dataset(dataset).sim)
    return {**config["symbolic"], "operators": search_operators(config, sim), "seed": seed}


def closed(config: Mapping[str, Any], model: str) -> bool:
    """Whether the cells of variant ``model`` get a symbolic φe (rule replace), where the run trains it."""
    return model in config.get("framework", {}).get("models", [])


def replacement_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The replace rule's ``ReplacementSpec``."""
    framework = config["framework"]
    return {k: framework[k] for k in ("equation", "trainable_constants", "training")}


def ood_sets(config: Mapping[str, Any], dataset: str | None = None) -> list[str]:
    """The out-of-distribution sets of this run, in config order; of ``dataset``: for a system given as data, those
    its supposed law can simulate from its stored states (``hypothesis_ood``; ``data_ood_left_out`` names the rest),
    none without a law."""
    sets = list(config.get("ood", {}).get("sets", []))
    if dataset is None or not given_as_data(config, parse_dataset(dataset).sim):
        return sets
    left_out = data_ood_left_out(config, parse_dataset(dataset).sim)
    return [name for name in sets if name not in left_out]


def data_ood_left_out(config: Mapping[str, Any], sim: str) -> dict[str, str]:
    """The run's OOD sets that ``sim``, a system given as data, has not, and why."""
    sets = config.get("ood", {}).get("sets", [])
    if not has_law(config, sim):
        return {name: "no law to simulate it with (systems.NAME.law)" for name in sets}
    shifts = config.get("ood", {}).get("shifts", {})
    return {
        name: "it changes the number of bodies, which the stored states cannot"
        for name in sets
        if shifts.get(name, {}).get("n_bodies") is not None
    }


def ood_shift(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``Shift`` of set ``name``, every field explicit: the ood rule's ``shift`` param."""
    shifts = config.get("ood", {}).get("shifts", {})
    if name not in shifts:
        raise ConfigError(
            f"unknown out-of-distribution set {shown(name)} ({TARGET}): "
            + (f"the shifts under 'ood.shifts' are {', '.join(sorted(shifts))}" if shifts else "ood.shifts has none")
        )
    declared = shifts[name]
    return {
        "name": name,
        "n_bodies": declared.get("n_bodies"),
        "position_scale": float(declared.get("position_scale", 1.0)),
        "velocity_scale": float(declared.get("velocity_scale", 1.0)),
        "log_mass_shift": float(declared.get("log_mass_shift", 0.0)),
    }


def hypothesis_shift(config: Mapping[str, Any], dataset: str, name: str) -> dict[str, Any]:
    """The ``hypothesis_ood`` rule's ``shift`` param: ``ood_shift``, for a set the system's law can simulate."""
    sim = parse_dataset(dataset).sim
    why = data_ood_left_out(config, sim).get(name)
    if why is not None:
        raise ConfigError(f"{shown(sim)} is given as data, and has no out-of-distribution set {shown(name)}: {why}")
    return ood_shift(config, name)


def datasets(config: Mapping[str, Any]) -> list[str]:
    exp = config["experiment"]
    return [Dataset(s, d, n).name for s, d, n in product(exp["sims"], exp["dims"], exp["n_bodies"])]


def cells(config: Mapping[str, Any]) -> list[Cell]:
    """Every dataset × model × seed, less the systems a variant is restricted away from (``models.*.sims``)."""
    exp = config["experiment"]
    return [
        Cell(d, m, s)
        for d, m, s in product(datasets(config), exp["models"], exp["seeds"])
        if parse_dataset(d).sim in config["models"][m].get("sims", exp["sims"])
    ]


def known_system(config: Mapping[str, Any], sim: str) -> str:
    """``sim``, a system the run can simulate: a requested file's path (a wildcard) may name any."""
    own = config.get("systems", {})
    if sim not in laws.POTENTIALS and sim not in own:
        raise ConfigError(
            f"unknown system {shown(sim)} ({TARGET}): neither a built-in system ({', '.join(laws.POTENTIALS)}) "
            f"nor one defined under 'systems' ({', '.join(own) or 'none defined'})"
        )
    return sim


def variant(config: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    """Model variant ``model``'s settings: a requested file's path (a wildcard) may name any."""
    if model not in config["models"]:
        raise ConfigError(
            f"unknown model variant {shown(model)} ({TARGET}): the variants under 'models' are "
            f"{', '.join(sorted(config['models']))}"
        )
    return config["models"][model]


def simulation_params(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """The ``SimulationSpec`` of one dataset."""
    ds = parse_dataset(dataset)
    known_system(config, ds.sim)
    if given_as_data(config, ds.sim):
        raise ConfigError(
            f"{shown(ds.sim)} is given as data (systems.{ds.sim}.trajectories), so nothing simulates it: its datasets "
            f"come from rule trajectories, and its out-of-distribution sets from rule hypothesis_ood ({TARGET})"
        )
    sim_cfg = config["simulation"]
    own = config.get("systems", {})
    if ds.sim not in sim_cfg["dt"] and ds.sim not in own:
        raise ConfigError(f"invalid config at 'simulation.dt': no time step for simulation {shown(ds.sim)}")
    keys = ("nt", "keep_every", "rtol", "atol", "mxstep", "train_sims", "test_sims", "split", "seed", "test_seed")
    params = {k: sim_cfg[k] for k in keys}
    dt = own[ds.sim]["dt"] if ds.sim in own else sim_cfg["dt"][ds.sim]
    params.update(sim=ds.sim, dim=ds.dim, n=ds.n, dt=float(dt))
    params["time_test_fraction"] = float(sim_cfg["time_test_fraction"])
    return dict(sorted(params.items()))


def model_params(config: Mapping[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """A model variant resolved for one dataset: architecture plus its complete training budget."""
    ds = parse_dataset(dataset)
    known_system(config, ds.sim)
    settings = dict(variant(config, model))
    settings.pop("sims", None)  # which cells exist, not how one is trained
    training = {**config["training"], **settings.pop("training", {})}
    training.pop("device", None)  # where it trains, not what: the rule's `device` param (training_device)
    if training["batch_size"] == "auto":
        training["batch_size"] = int(64 * (4 / ds.n) ** 2)  # the notebook's batch = int(64·(4/n)²)
    msg_dim = settings["msg_dim"]
    settings["msg_dim"] = ds.dim if msg_dim == "dim" else int(msg_dim)
    if "pruning" in settings:  # only a pruned variant has the key: the others' params stay as they were
        pruning = settings["pruning"]
        keep = ds.dim if pruning["keep"] == "dim" else int(pruning["keep"])
        settings["pruning"] = {"end_fraction": float(pruning["end_fraction"]), "keep": keep}
    return {
        "model": dict(sorted(settings.items())),
        "training": dict(sorted(training.items())),
        "system": {"sim": ds.sim, "dim": ds.dim, "n": ds.n},
    }


def training_device(config: Mapping[str, Any], model: str) -> str:
    """The ``train`` rule's ``device`` param: ``training.device`` or the variant's own (default auto)."""
    return {**config["training"], **variant(config, model).get("training", {})}.get("device", "auto")


# ---------------------------------------------------------------- the cosmology experiment


def halo_training_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``halos_train`` rule's params (``HaloTrainingSpec``): the same for every split of a catalogue."""
    cosmo = config["cosmology"]
    return {
        "model": dict(sorted(cosmo["model"].items())),
        "training": dict(sorted((k, v) for k, v in cosmo["training"].items() if k != "device")),
        "split": dict(sorted(cosmo["split"].items())),
        "units": dict(sorted(cosmo["units"].items())),
        "radius": float(cosmo["radius"]),
        "seed": cosmo["seed"],
    }


def halo_search_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``halos_symbolic`` rule's ``SearchSpec``: ``symbolic`` with ``cosmology.symbolic``'s overrides."""
    cosmo = config["cosmology"]
    return {
        **config["symbolic"],
        **cosmo["symbolic"],
        "r_min": 0.0,
        "components": cosmo["messages"]["components"],
        "seed": cosmo["seed"],
    }


def halo_messages_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``halos_messages`` rule's ``HaloMessagesSpec``."""
    cosmo = config["cosmology"]
    return {**cosmo["messages"], "seed": cosmo["seed"]}


def halo_evaluation_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``halos_evaluate`` rule's params (``HaloEvaluationSpec``)."""
    cosmo = config["cosmology"]
    training = halo_training_params(config)
    return {
        "judge": {**cosmo["judge"], "seed": cosmo["seed"]},
        "refit": {**cosmo["refit"], "seed": cosmo["seed"]},
        **{k: training[k] for k in ("radius", "units")},
    }

"""From the validated config to the pipeline's names and each rule's parameters, and the names back from paths.

Imported by the Snakefile and by every stage's readers, so it stays light (no JAX, PyTorch or Snakemake at
import). Every function returns plain data with sorted keys: Snakemake stores the ``repr`` of each rule's params
and reruns a job when it changes, so the params must change exactly when a result would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from itertools import product
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from symdistill.core.names import IN_DISTRIBUTION, SHOWN_CHARS, Cell, ConfigError, Dataset, cut, parse_dataset, shown
from symdistill.engine.budget import BackendUnavailable, check_backend
from symdistill.nbody import laws

TARGET = "named by a requested file's path"  # what named a variant, system or set the config lacks


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Check ``config`` against the schema and fill in its defaults, in place.

    A bad config raises one ConfigError naming the offending key and what it allows, before Snakemake's
    own (much longer) report; ``snakemake.utils.validate`` then fills in the schema's defaults.
    """
    _check_finite(config)
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = _Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(f"invalid config at '{key}': {_describe(error)}")
    from snakemake.utils import validate as snakemake_validate  # heavy: only where a config is validated

    _check_systems(config)
    _check_models(config)
    _check_selection(config)
    _check_ood(config)
    _check_framework(config)
    try:
        check_backend(config["symbolic"]["backend"])
    except BackendUnavailable as err:
        raise ConfigError(f"invalid config at 'symbolic.backend': {err}") from None
    snakemake_validate(config, str(schema_path), set_default=True)
    _check_cosmology(config)


# A count is a whole number as written: JSON Schema's "integer" also takes a float such as 1.0e+20 or 30.0
# (YAML's reading of both), which then fails inside JAX or range().
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)


def _check_finite(config: Mapping[str, Any]) -> None:
    """No NaN or ±inf anywhere (YAML's .nan, .inf, -.inf): NaN passes every bound of the schema and ±inf every
    one-sided one, and both then fail deep inside a job (torch's "Invalid learning rate", numpy's OverflowError).

    Each list and mapping is walked once, however often YAML aliases repeat it (or if it holds itself)."""
    seen: set[int] = set()
    stack: list[tuple[tuple[Any, ...], Any]] = [((), config)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            key = ".".join(map(str, path)) or "(top level)"
            raise ConfigError(f"invalid config at '{key}': {_yaml_float(node)} is not a finite number")
        if not isinstance(node, (Mapping, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Mapping):
            for name in node:
                if isinstance(name, float) and not math.isfinite(name):
                    key = ".".join(map(str, path)) or "(top level)"
                    raise ConfigError(f"invalid config at '{key}': the key {_yaml_float(name)} is not a finite number")
            children = list(node.items())
        else:
            children = list(enumerate(node))
        stack.extend(((*path, name), child) for name, child in reversed(children))


def _yaml_float(value: float) -> str:
    """A non-finite float as YAML writes it."""
    return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"


def _describe(error: jsonschema.ValidationError) -> str:
    """The error's message, quoting its value cut to SHOWN_CHARS (jsonschema quotes it whole)."""
    if error.validator == "enum":
        return f"{shown(error.instance)} is not allowed; expected one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"{error.message}; allowed keys here: {allowed}"
    full = repr(error.instance)
    message = error.message.replace(full, cut(full)) if len(full) > SHOWN_CHARS else error.message
    if error.validator == "type" and isinstance(error.instance, float) and _wants_integer(error):
        whole = f": write {int(error.instance)}" if error.instance.is_integer() else ""
        return f"{error.instance!r} is not an integer (YAML reads a number with a dot or an exponent as a float){whole}"
    if error.validator in ("type", "oneOf", "anyOf") and isinstance(error.instance, str) and _is_number(error.instance):
        text = cut(error.instance)
        return (
            f"{message}; YAML reads {text} as text (an exponent needs a sign and a dot in the "
            f"mantissa): write {cut(_yaml_number(error.instance, integer=_wants_integer(error)))}"
        )
    return message


def _wants_integer(error: jsonschema.ValidationError) -> bool:
    """Whether the failed schema takes a whole number and no other number."""
    if error.validator == "type":
        types = error.validator_value
    elif error.validator in ("oneOf", "anyOf"):
        types = [branch.get("type") for branch in error.validator_value if isinstance(branch, Mapping)]
    else:
        return False
    flat = {
        t
        for entry in (types if isinstance(types, list) else [types])
        for t in (entry if isinstance(entry, list) else [entry])
    }
    return "integer" in flat and "number" not in flat


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _yaml_number(text: str, integer: bool = False) -> str:
    """``text`` as YAML 1.1 (PyYAML) reads a float: 1e6 → 1.0e+6; where a whole number is expected, its digits."""
    if integer:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            value = None
        if value is not None and value == value.to_integral_value():
            return str(int(value))
    mantissa, _, exponent = text.lower().partition("e")
    mantissa = mantissa if "." in mantissa else f"{mantissa}.0"
    return f"{mantissa}e{exponent if exponent[:1] in '+-' else '+' + exponent}" if exponent else mantissa


def _check_models(config: Mapping[str, Any]) -> None:
    for name in config["experiment"]["models"]:
        if name not in config["models"]:
            raise ConfigError(
                f"invalid config at 'experiment.models': {shown(name)} is not a variant under 'models' "
                f"(defined: {', '.join(sorted(config['models']))})"
            )
    for name, variant in config["models"].items():
        architecture, regularizer = variant.get("architecture"), variant.get("regularizer")
        if (regularizer == "kl") != (architecture == "vargn"):
            raise ConfigError(
                f"invalid config at 'models.{name}': the KL regulariser needs architecture 'vargn' "
                "(variational messages) and 'vargn' needs the KL regulariser"
            )
        if architecture == "hgn" and (variant.get("msg_dim") != 1 or regularizer not in ("none", "hamiltonian")):
            raise ConfigError(
                f"invalid config at 'models.{name}': architecture 'hgn' (FlatHGN) has msg_dim 1 (its message is the "
                "pair energy) and regularizer 'hamiltonian' or 'none'"
            )
        if regularizer == "hamiltonian" and architecture != "hgn":
            raise ConfigError(
                f"invalid config at 'models.{name}': the hamiltonian regulariser needs architecture 'hgn'"
            )


def _check_systems(config: Mapping[str, Any]) -> None:
    """Every researcher's law is one the simulator and the judge can use, and registered for this process;
    every system a run names is a built-in or one of them."""
    own = config.get("systems", {})
    for name, spec in own.items():
        if name in laws.POTENTIALS:
            raise ConfigError(
                f"invalid config at 'systems.{name}': {name!r} is a built-in system ({', '.join(laws.POTENTIALS)}); "
                "give yours another name"
            )
        law = user_law(name, spec)
        try:
            laws.check_law(law)
            laws.register(law)
        except ValueError as err:
            raise ConfigError(f"invalid config at 'systems.{name}.potential': {err}") from None
    known = (*laws.POTENTIALS, *own)
    named = {"experiment.sims": config["experiment"]["sims"]}
    named |= {f"models.{m}.sims": v["sims"] for m, v in config["models"].items() if "sims" in v}
    for key, sims in named.items():
        for sim in sims:
            if sim not in known:
                raise ConfigError(
                    f"invalid config at '{key}': {shown(sim)} is neither a built-in system "
                    f"({', '.join(laws.POTENTIALS)}) nor one defined under 'systems' "
                    f"({', '.join(own) or 'none defined'})"
                )
    for sim in config["simulation"]["dt"]:
        if sim not in laws.POTENTIALS:
            raise ConfigError(
                f"invalid config at 'simulation.dt.{sim}': {shown(sim)} is not a built-in system; a system of your own "
                f"sets its time step at 'systems.{sim}.dt'"
            )


def user_law(name: str, spec: Mapping[str, Any]) -> laws.PairLaw:
    return laws.PairLaw(name, spec["potential"], float(spec.get("softening", laws.SOFTENING)))


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


def operator_warnings(config: Mapping[str, Any]) -> list[str]:
    """For each system of the run whose law the search cannot write with its operators, what is missing (the
    laws registered by validation): printed by the Snakefile, so a dry run says it before any search."""
    warnings = []
    for sim in config["experiment"]["sims"]:
        missing = laws.missing_operators(sim, search_operators(config, sim))
        if missing:
            own = "operators" in config.get("systems", {}).get(sim, {})
            key = f"systems.{sim}.operators" if own else "symbolic.operators"
            hint = (
                f"set this system's own at systems.{sim}.operators"
                if sim in config.get("systems", {})
                else "add them to symbolic.operators"
            )
            warnings.append(
                f"symdistill: the law of {sim!r} ({laws.radial_force(sim)} times Δ) needs {'; '.join(missing)}, "
                f"which the search's operators ({key}: {', '.join(search_operators(config, sim))}) lack: "
                f"its cells cannot be recovered as written; {hint}"
            )
    return warnings


def _check_selection(config: Mapping[str, Any]) -> None:
    """An experiment that selects no cell, or a chosen variant that selects none, is a mistake, not a result:
    its tables would compare nothing ("matches the paper in 0/0") or silently lack the variant."""
    exp = config["experiment"]
    for name in exp["models"]:
        only = config["models"][name].get("sims")
        if only is not None and not set(only) & set(exp["sims"]):
            raise ConfigError(
                f"invalid config at 'models.{name}.sims': the variant runs only on {', '.join(only)}, none of which "
                f"is in experiment.sims ({', '.join(exp['sims'])}): it would select no cell; add one of its systems "
                f"to experiment.sims or drop {shown(name)} from experiment.models"
            )


def _check_framework(config: Mapping[str, Any]) -> None:
    """The variants to close are defined variants with a φv to retrain (those of experiment.models are closed);
    retraining runs in the cell's CPU job, so it takes no device."""
    if "device" in config.get("framework", {}).get("training", {}):
        raise ConfigError(
            "invalid config at 'framework.training.device': replace retrains φv in the cell's CPU job, on the CPU; "
            "only training (train) and cosmology.training (halos_train) choose a device"
        )
    for name in config.get("framework", {}).get("models", []):
        if name not in config["models"]:
            raise ConfigError(
                f"invalid config at 'framework.models': {shown(name)} is not a variant under 'models' "
                f"(defined: {', '.join(sorted(config['models']))})"
            )
        if config["models"][name]["architecture"] == "hgn":
            raise ConfigError(
                f"invalid config at 'framework.models': {shown(name)} is FlatHGN, whose messages are pair energies and "
                "whose φv is physics: there is no φv to retrain"
            )


def closed(config: Mapping[str, Any], model: str) -> bool:
    """Whether the cells of variant ``model`` get a symbolic φe (rule replace), where the run trains it."""
    return model in config.get("framework", {}).get("models", [])


def replacement_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The replace rule's ``ReplacementSpec``."""
    framework = config["framework"]
    return {k: framework[k] for k in ("equation", "trainable_constants", "training")}


def _check_ood(config: Mapping[str, Any]) -> None:
    """Every out-of-distribution set a run asks for is a declared shift, and none is named like the test split."""
    ood = config.get("ood", {})
    shifts = ood.get("shifts", {})
    for name in ood.get("sets", []):
        if name == IN_DISTRIBUTION:
            raise ConfigError(
                f"invalid config at 'ood.sets': {shown(name)} names the in-distribution test split; give the shift "
                "another name"
            )
        if name not in shifts:
            raise ConfigError(
                f"invalid config at 'ood.sets': {shown(name)} is not a shift under 'ood.shifts' "
                f"(declared: {', '.join(sorted(shifts)) or 'none'})"
            )


def ood_sets(config: Mapping[str, Any]) -> list[str]:
    """The out-of-distribution sets of this run, in config order."""
    return list(config.get("ood", {}).get("sets", []))


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


def _check_cosmology(config: Mapping[str, Any]) -> None:
    """What the schema cannot say: a file or Quijote catalogue needs its paths, and the graph's radius must fit the
    box (Quijote's box is read from its snapshot: the graph's construction checks it)."""
    cosmo = config["cosmology"]
    if cosmo["catalogue"] == "file" and not cosmo["file"]["path"]:
        raise ConfigError("invalid config at 'cosmology.file.path': catalogue: file needs the path of your catalogue")
    for key in ("snapdir", "snapshot"):
        if cosmo["catalogue"] == "quijote" and not cosmo["quijote"][key]:
            raise ConfigError(f"invalid config at 'cosmology.quijote.{key}': catalogue: quijote needs this folder")
    if cosmo["catalogue"] == "synthetic" and cosmo["radius"] != cosmo["synthetic"]["radius"]:
        raise ConfigError(
            f"invalid config at 'cosmology.radius': {cosmo['radius']} Mpc/h, but the synthetic catalogue's δ is planted"
            f" on the graph of cosmology.synthetic.radius ({cosmo['synthetic']['radius']} Mpc/h): set both alike"
        )
    box = {"synthetic": cosmo["synthetic"]["box"], "file": cosmo["file"]["box"]}.get(cosmo["catalogue"])
    if box is not None and cosmo["radius"] >= box / 2:
        raise ConfigError(
            f"invalid config at 'cosmology.radius': {cosmo['radius']} Mpc/h is not below half the box ({box} Mpc/h): "
            "a pair could then be close through two periodic images"
        )

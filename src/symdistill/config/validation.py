"""A config checked before any job runs: against the schema (defaults filled in), then what the schema cannot
say (variants and their regularisers, systems of your own and their laws, the selection, the shifts, the
framework, the cosmology experiment's paths and radius). A bad config is one ``ConfigError`` naming the key.

Light (no JAX, PyTorch or Snakemake at import): the Snakefile validates every config through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from symdistill.config.params import data_ood_left_out, given_as_data, has_law, search_operators, user_law
from symdistill.core.names import IN_DISTRIBUTION, SHOWN_CHARS, ConfigError, cut, shown
from symdistill.core.vocabulary import PRUNABLE
from symdistill.engine.budget import BackendUnavailable, check_backend
from symdistill.nbody import laws


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
        _check_pruning(name, variant)
        if regularizer == "hamiltonian" and architecture != "hgn":
            raise ConfigError(
                f"invalid config at 'models.{name}': the hamiltonian regulariser needs architecture 'hgn'"
            )


def _check_pruning(name: str, variant: Mapping[str, Any]) -> None:
    """A pruned variant masks φe's own output down to fewer components than it has (``models.Pruning``)."""
    pruning = variant.get("pruning")
    if pruning is None:
        return
    if variant.get("architecture") not in PRUNABLE:
        raise ConfigError(
            f"invalid config at 'models.{name}.pruning': pruning masks φe's output, which architecture "
            f"{shown(variant.get('architecture'))} does not give as the message; expected one of {', '.join(PRUNABLE)}"
        )
    msg_dim, keep = variant.get("msg_dim"), pruning["keep"]
    if msg_dim == "dim" or (keep != "dim" and keep >= msg_dim) or (keep == "dim" and msg_dim <= 3):
        raise ConfigError(
            f"invalid config at 'models.{name}.pruning.keep': {shown(keep)} components must be fewer than the "
            f"msg_dim {shown(msg_dim)} the variant starts with"
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
        key = _check_system_keys(name, spec)
        if key is None:
            continue
        law = user_law(name, spec)
        try:
            laws.check_law(law)
            laws.register(law)
        except ValueError as err:
            raise ConfigError(f"invalid config at 'systems.{name}.{key}': {err}") from None
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


SIMULATED_KEYS = ("potential", "dt")  # a system of one's own that is simulated
DATA_KEYS = ("trajectories", "law", "test_fraction", "split_seed")  # one given as data


def _check_system_keys(name: str, spec: Mapping[str, Any]) -> str | None:
    """A system is simulated (potential and dt) or given as data (trajectories, and optionally the law to test),
    never both; returns the key that holds its law (None: no law). A trajectory file must exist (its content is
    rule trajectories' to check)."""
    where = f"invalid config at 'systems.{name}'"
    if "trajectories" not in spec:
        stray = [k for k in DATA_KEYS if k in spec]
        if stray:
            raise ConfigError(f"{where}: {', '.join(stray)} belong(s) to a system given as data (trajectories)")
        missing = [k for k in SIMULATED_KEYS if k not in spec]
        if missing:
            raise ConfigError(
                f"{where}: {' and '.join(missing)} missing; a system of your own has potential and dt (simulated) "
                "or trajectories (given as data)"
            )
        return "potential"
    both = [k for k in SIMULATED_KEYS if k in spec]
    if both:
        raise ConfigError(f"{where}: {' and '.join(both)} with trajectories; a system given as data is not simulated")
    if "softening" in spec and "law" not in spec:
        raise ConfigError(f"{where}: softening without law; it is part of a law (r → r + softening inside U)")
    path = Path(spec["trajectories"])
    if not path.is_file():
        raise ConfigError(
            f"invalid config at 'systems.{name}.trajectories': {shown(str(path))}: no such file "
            f"(relative paths are from the working directory, {Path.cwd()})"
        )
    return "law" if "law" in spec else None


def operator_warnings(config: Mapping[str, Any]) -> list[str]:
    """For each system of the run whose law the search cannot write with its operators, what is missing (the
    laws registered by validation): printed by the Snakefile, so a dry run says it before any search."""
    warnings = []
    for sim in config["experiment"]["sims"]:
        if not has_law(config, sim):
            continue
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


def ood_warnings(config: Mapping[str, Any]) -> list[str]:
    """For each system of the run given as data, the OOD sets it has not and why (printed by the Snakefile: a set
    left out is said, not silently missing from its generalisation record)."""
    warnings = []
    for sim in config["experiment"]["sims"]:
        if given_as_data(config, sim):
            left_out = data_ood_left_out(config, sim)
            warnings += [f"symdistill: {sim!r} is given as data: no out-of-distribution set {name!r}: {why}"
                         for name, why in left_out.items()]  # fmt: skip
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

"""The schema's keys and each stage's typed spec agree, and every preset's params build every cell's specs.

A key added to the schema but not to a spec (or misspelt in one) used to show only when the smoke workflow ran a
job; here it fails in a second, naming the key.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT, deep_merge

from symdistill.config.params import (
    cells,
    datasets,
    halo_evaluation_params,
    halo_messages_params,
    halo_search_params,
    halo_training_params,
    model_params,
    ood_sets,
    ood_shift,
    replacement_params,
    simulation_params,
)
from symdistill.config.validation import validate_config
from symdistill.core.bundles import Files
from symdistill.core.specs import Spec
from symdistill.cosmology.catalogue import HaloUnits, SplitSpec, SyntheticCatalogueSpec
from symdistill.cosmology.evaluation import HaloEvaluationSpec
from symdistill.cosmology.formulas import RefitSpec
from symdistill.cosmology.judge import HaloJudgeSpec
from symdistill.cosmology.messages import HaloMessagesSpec
from symdistill.cosmology.network import HaloModelSpec
from symdistill.cosmology.quijote import QuijoteSource
from symdistill.cosmology.training import HaloTrainingSettings, HaloTrainingSpec
from symdistill.engine.search import SearchSpec
from symdistill.engine.training import TrainingOutputs
from symdistill.nbody.distillation import ModelRefitSpec, NewtonJudgeSpec
from symdistill.nbody.hypothesis_ood import Tolerances
from symdistill.nbody.judge import JudgeSpec
from symdistill.nbody.models import ModelSpec
from symdistill.nbody.replacement import ReplacementSpec
from symdistill.nbody.simulate import Shift, SimulationSpec
from symdistill.nbody.train import TrainingSettings, TrainingSpec

SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
COSMOLOGY = SCHEMA["properties"]["cosmology"]["properties"]
PRESETS = [None, *sorted(p.stem for p in (ROOT / "presets").glob("*.yaml"))]


def keys(section: dict) -> set[str]:
    """The property names a schema section allows, through ``allOf`` and local ``$ref``s."""
    if "$ref" in section:
        section = SCHEMA["$defs"][section["$ref"].removeprefix("#/$defs/")]
    names = set(section.get("properties", {}))
    for part in section.get("allOf", []):
        names |= keys(part)
    return names


def field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


@pytest.mark.parametrize(
    ("spec", "schema_keys", "not_from_the_section", "not_in_the_spec"),
    [
        # the dataset's name gives sim, dim and n; dt is the chosen system's entry of simulation.dt
        (SimulationSpec, keys(SCHEMA["properties"]["simulation"]), {"sim", "dim", "n"}, set()),
        # a variant's sims say which cells exist and its training overrides go to TrainingSettings
        (ModelSpec, keys(SCHEMA["properties"]["models"]["additionalProperties"]), set(), {"sims", "training"}),
        # the device is where a cell trains, not what: the train rule's own `device` param (config.training_device)
        (TrainingSettings, keys(SCHEMA["properties"]["training"]), set(), {"device"}),
        (SearchSpec, keys(SCHEMA["properties"]["symbolic"]), {"seed"}, set()),  # the cell's seed
        (JudgeSpec, keys(SCHEMA["properties"]["judge"]), {"seed"}, set()),
        (Shift, keys(SCHEMA["properties"]["ood"]["properties"]["shifts"]["additionalProperties"]), {"name"}, set()),
        # models: which cells; components: rule symbolic_rest's; refit: rule distil's
        (ReplacementSpec, keys(SCHEMA["properties"]["framework"]), set(), {"models", "components", "refit"}),
        (ModelRefitSpec, keys(SCHEMA["properties"]["framework"]["properties"]["refit"]), set(), set()),
        # the planted law is the paper's (halos.PlantedLaw), not a setting
        (SyntheticCatalogueSpec, keys(COSMOLOGY["synthetic"]), {"law"}, set()),
        (HaloModelSpec, keys(COSMOLOGY["model"]), set(), set()),
        (HaloTrainingSettings, keys(COSMOLOGY["training"]), set(), {"device"}),  # halos_train's `device` param
        (SplitSpec, keys(COSMOLOGY["split"]), set(), set()),
        (HaloUnits, keys(COSMOLOGY["units"]), set(), set()),
        (HaloMessagesSpec, keys(COSMOLOGY["messages"]), {"seed"}, set()),  # cosmology.seed
        (HaloJudgeSpec, keys(COSMOLOGY["judge"]), {"seed"}, set()),
        (RefitSpec, keys(COSMOLOGY["refit"]), {"seed"}, set()),
        (QuijoteSource, keys(COSMOLOGY["quijote"]), set(), set()),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_spec_has_exactly_the_schemas_keys(
    spec: type, schema_keys: set[str], not_from_the_section: set[str], not_in_the_spec: set[str]
) -> None:
    assert field_names(spec) - not_from_the_section == schema_keys - not_in_the_spec


def resolved(preset: str | None) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    if preset:
        deep_merge(config, yaml.safe_load((ROOT / "presets" / f"{preset}.yaml").read_text()))
    validate_config(config, SCHEMA_PATH)  # fills the schema's defaults, as the Snakefile does
    return copy.deepcopy(config)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p or "config.yaml")
def test_every_cells_params_build_its_specs(preset: str | None) -> None:
    """What rules/common.smk passes each rule, for every dataset and cell of the config and each preset."""
    config = resolved(preset)
    for dataset in datasets(config):
        SimulationSpec.from_params(simulation_params(config, dataset), f"{preset}: {dataset}")
    for name in ood_sets(config):
        Shift.from_params(ood_shift(config, name), f"{preset}: ood set {name}")
    for cell in cells(config):
        where = f"{preset}: {cell.path}"
        spec = TrainingSpec.from_params({**model_params(config, cell.dataset, cell.model), "seed": cell.seed}, where)
        assert spec.model.msg_dim >= 1 and spec.training.batch_size >= 1
        SearchSpec.from_params({**config["symbolic"], "seed": cell.seed}, where)
        JudgeSpec.from_params({**config["judge"], "seed": cell.seed}, where)
    ReplacementSpec.from_params(replacement_params(config), f"{preset}: framework")
    SyntheticCatalogueSpec.from_params(config["cosmology"]["synthetic"], f"{preset}: cosmology.synthetic")
    HaloTrainingSpec.from_params(halo_training_params(config), f"{preset}: halos_train")
    HaloMessagesSpec.from_params(halo_messages_params(config), f"{preset}: halos_messages")
    SearchSpec.from_params(halo_search_params(config), f"{preset}: halos_symbolic")
    HaloEvaluationSpec.from_params(halo_evaluation_params(config), f"{preset}: halos_evaluate")
    assert set(keys(COSMOLOGY["symbolic"])) <= set(keys(SCHEMA["properties"]["symbolic"]))


def test_config_yamls_synthetic_catalogue_is_the_one_benchmarked() -> None:
    """docs/benchmarks.md's full-size figures (edges, memory) are of the spec's defaults: config.yaml is those."""
    assert SyntheticCatalogueSpec(**resolved(None)["cosmology"]["synthetic"]) == SyntheticCatalogueSpec()


def test_a_misspelt_key_fails_at_construction_naming_it() -> None:
    config = resolved("smoke")
    params = {**model_params(config, "spring_2d_n4", "bottleneck"), "seed": 0}
    training = dict(params["training"])
    training["max_rl"] = training.pop("max_lr")
    params["training"] = training
    with pytest.raises(
        ValueError,
        match=r"train params: training: not a TrainingSettings: unknown keys \['max_rl'\]; "
        r"missing keys \['max_lr'\]",
    ):
        TrainingSpec.from_params(params)
    with pytest.raises(ValueError, match=r"m.pt: model: not a ModelSpec: missing keys \['hidden'\]"):
        ModelSpec.from_params({k: v for k, v in params["model"].items() if k != "hidden"}, "m.pt: model")


def test_model_records_keep_their_layout() -> None:
    """model.pt and the message tables store the variant as a sorted mapping (``ModelSpec.record``), a pruned one's
    with its schedule, the others' as they always were."""
    config = resolved("smoke")
    params = model_params(config, "spring_2d_n4", "l1")
    spec = TrainingSpec.from_params({**params, "seed": 0})
    assert list(spec.model.record().items()) == list(params["model"].items())
    pruned = model_params(config, "spring_2d_n4", "pruned")
    assert list(TrainingSpec.from_params({**pruned, "seed": 0}).model.record().items()) == list(pruned["model"].items())
    assert list(asdict(spec.training).items()) == list(params["training"].items())


# ---------------------------------------------------------------- one way from a rule to its stage

SCRIPTS = sorted((ROOT / "workflow_scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_script_reads_its_settings_with_from_params_and_its_files_as_bundles(script) -> None:
    """A rule's settings become a spec one way, ``Spec.from_params``, never ``Spec(**params)`` or ``spec_from``; a
    stage gets its files by name (``Files.of``), never as positional paths taken from a named list."""
    tree = ast.parse(script.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert not any(k.arg is None for k in node.keywords), f"{script.name}: {ast.unparse(node)[:80]}"
            assert ast.unparse(node.func) != "spec_from", f"{script.name}: {ast.unparse(node)[:80]}"
    named = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "snakemake.input"]
    assert len(named) == 0, f"{script.name}: {[ast.unparse(n) for n in named]}: pass a bundle (Files.of)"


def test_every_spec_a_rule_reads_is_a_spec() -> None:
    for cls in (SimulationSpec, Shift, ModelSpec, TrainingSettings, TrainingSpec, SearchSpec, JudgeSpec,
                ReplacementSpec, SyntheticCatalogueSpec, HaloModelSpec, HaloTrainingSettings, HaloTrainingSpec,
                SplitSpec, HaloUnits, HaloMessagesSpec, HaloJudgeSpec, RefitSpec, HaloEvaluationSpec,
                QuijoteSource, Tolerances, ModelRefitSpec, NewtonJudgeSpec):  # fmt: skip
        assert issubclass(cls, Spec), cls.__name__


@dataclass(frozen=True)
class _Bundle(Files):
    model: Path
    ood: list[Path]
    replaced: Path | None = None


def test_a_bundle_reads_a_rules_files_by_name() -> None:
    """Required names, optional names (None where the rule lacks them), lists (none where the rule names none)."""
    named = SimpleNamespace(model="m.pt", ood=["a.parquet", "b.parquet"], test="t.parquet")
    assert _Bundle.of(named) == _Bundle(Path("m.pt"), [Path("a.parquet"), Path("b.parquet")])
    assert _Bundle.of(SimpleNamespace(model="m.pt", replaced="r.pt")).ood == []
    assert _Bundle.of(SimpleNamespace(model="m.pt", ood="one.parquet", replaced="r.pt")) == _Bundle(
        Path("m.pt"), [Path("one.parquet")], Path("r.pt")
    )
    with pytest.raises(KeyError, match="_Bundle: the rule names no file 'model'"):
        _Bundle.of(SimpleNamespace(ood=[]))


def test_a_bundle_built_from_strings_holds_paths() -> None:
    bundle = _Bundle("m.pt", ("a.parquet",), "r.pt")
    assert bundle == _Bundle(Path("m.pt"), [Path("a.parquet")], Path("r.pt"))
    assert TrainingOutputs("out/model.pt", "out/history.parquet", "out/metrics.json").checkpoint == Path(
        "out/checkpoint.pt"
    )

"""The pruned variant (Tan et al.): their cosine schedule, the mask in training, in the saved model and in the
message tables, and the config that declares it."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import tiny_training_spec, train_tiny_cell

from symdistill.config.params import model_params
from symdistill.config.validation import validate_config
from symdistill.core.names import ConfigError
from symdistill.nbody.data import read_split
from symdistill.nbody.messages import message_table
from symdistill.nbody.models import ModelSpec, Pruning
from symdistill.nbody.train import load_model


def test_the_schedule_is_theirs_ceil_and_all() -> None:
    """Their values (set_pruning_schedule, cosine, 0.65 of 100 epochs): 2 is reached at epoch 61, not 65."""
    kept = [Pruning(end_fraction=0.65, keep=2).kept(100, epoch, 100) for epoch in range(100)]
    assert kept[:10] == [100, 99, 99, 99, 99, 98, 97, 97, 96, 95]
    assert kept[32] == 52 and kept.index(2) == 61 and set(kept[61:]) == {2}
    assert all(a >= b for a, b in zip(kept, kept[1:], strict=False))
    assert [Pruning(end_fraction=0.65, keep=2).kept(100, e, 8) for e in range(8)] == [100, 90, 66, 35, 11, 2, 2, 2]


def _pruned_spec(**training):
    spec = tiny_training_spec(msg_dim=16, **training)
    return replace(spec, model=replace(spec.model, pruning=Pruning(end_fraction=0.5, keep=2)))


def test_a_pruned_network_keeps_the_scheduled_components_and_ends_a_bottleneck(tmp_path: Path, spring_data) -> None:
    out = train_tiny_cell(tmp_path, spring_data, _pruned_spec(epochs=4, graphs_per_epoch=2048))
    history = pd.read_parquet(out / "history.parquet")
    kept = [list(k) for k in history["kept_components"]]
    assert [len(k) for k in kept] == [16, 9, 2, 2]  # E = 2: 16, then 16 − ⌈14 · ½⌉, then 2
    assert set(kept[2]) <= set(kept[1]) and kept[2] == kept[3]  # a masked component never comes back
    std = np.array(history["message_std"].tolist())
    assert (std[-1][kept[-1]] > 0).all() and np.count_nonzero(std[-1]) == 2  # the history shows the mask
    model, record = load_model(out / "model.pt")
    assert record["model"].pruning == Pruning(end_fraction=0.5, keep=2)
    assert torch.equal(torch.nonzero(model.message_mask).flatten(), torch.tensor(kept[-1]))
    frame, meta = message_table(model, record, read_split(spring_data[1]).x[:20])
    assert sorted(meta["ranked_components"][:2]) == sorted(f"e{k}" for k in kept[-1])
    assert np.count_nonzero(frame[[f"e{k}" for k in range(16)]].to_numpy().std(axis=0)) == 2
    assert meta["model"]["pruning"] == {"end_fraction": 0.5, "keep": 2}


@pytest.fixture
def config(root) -> dict:
    config = yaml.safe_load((root / "config.yaml").read_text())
    validate_config(config, root / "schemas" / "config.schema.yaml")
    return config


def test_the_other_variants_records_and_params_stay_as_they_were(config) -> None:
    """No pruning key where a variant has none: their model.pt, checkpoints and Snakemake params are unchanged."""
    spec = tiny_training_spec("l1").model
    assert "pruning" not in spec.record() and list(spec.record()) == sorted(spec.record())
    assert ModelSpec.from_params(spec.record()) == spec
    assert "pruning" not in model_params(config, "spring_2d_n4", "bottleneck")["model"]
    pruned = model_params(config, "spring_3d_n4", "pruned")["model"]
    assert pruned["pruning"] == {"end_fraction": 0.65, "keep": 3} and pruned["msg_dim"] == 100
    assert ModelSpec.from_params(pruned).pruning == Pruning(end_fraction=0.65, keep=3)
    assert json.loads(json.dumps(asdict(ModelSpec.from_params(pruned))))["pruning"]["keep"] == 3


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (
            {
                "architecture": "vargn",
                "msg_dim": 100,
                "regularizer": "kl",
                "pruning": {"keep": "dim", "end_fraction": 0.5},
            },
            r"'models\.p\.pruning': pruning masks φe's output, which architecture 'vargn' does not give",
        ),
        (
            {"architecture": "gn", "msg_dim": 3, "regularizer": "none", "pruning": {"keep": 3, "end_fraction": 0.5}},
            r"'models\.p\.pruning\.keep': 3 components must be fewer than the msg_dim 3",
        ),
        (
            {"architecture": "gn", "msg_dim": 100, "regularizer": "none", "pruning": {"keep": "dim"}},
            r"models.*p.*pruning.*end_fraction",
        ),
    ],
)
def test_a_pruning_that_cannot_run_is_refused_by_key(root, variant: dict, message: str) -> None:
    config = yaml.safe_load((root / "config.yaml").read_text())
    config["models"]["p"] = variant
    with pytest.raises(ConfigError, match=message):
        validate_config(config, root / "schemas" / "config.schema.yaml")


def test_the_sparsity_figure_and_the_report_say_what_was_pruned() -> None:
    from symdistill.reporting.cell_figures import sparsity_figure
    from symdistill.reporting.report import variant_notes

    std = [[1.0, 0.5, 0.1, 0.01], [1.0, 0.4, 0.0, 0.0]]
    history = pd.DataFrame({"epoch": [1, 2], "message_std": std, "kept_components": [[0, 1, 2, 3], [0, 1]]})
    twin = sparsity_figure(history, ["e0", "e1"], "std", "c").axes[-1]
    assert twin.get_ylabel() == "components kept (dashed)" and list(twin.lines[0].get_ydata()) == [4, 2]
    assert len(sparsity_figure(history.drop(columns="kept_components"), ["e0"], "std", "c").axes) == 2
    variants = {"pruned": {"msg_dim": 100, "pruning": {"keep": "dim", "end_fraction": 0.65}}, "mine": {}}
    notes = variant_notes(["pruned", "mine", "l1"], variants, {"l1": "L1"})
    assert notes[0] == "mine (not in the paper): a variant of this run's config (models.mine)."
    assert "φe starts with 100 message components" in notes[1] and "leaves dim after 65% of the epochs" in notes[1]

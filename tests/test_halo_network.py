"""The cosmology network (issue 22): batches gather exactly each halo's incoming edges, the batched forward pass is
the graph network's sum over edges, the splits are what they say, and training is reproducible, resumable and
stops on a diverged loss without writing a model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cosmology import small_spec

from symdistill.cosmology.catalogue import (
    EDGE_INPUTS,
    HaloUnits,
    SplitSpec,
    edge_features,
    node_features,
    synthetic_catalogue,
    write_synthetic,
)
from symdistill.cosmology.graph import HaloGraph
from symdistill.cosmology.network import DeviceCatalogue, HaloModelSpec, HaloNetwork
from symdistill.cosmology.training import HaloTrainingSettings, HaloTrainingSpec, load_halo_network, train_halo_network
from symdistill.engine.training import TrainingError, TrainingOutputs

UNITS = HaloUnits()


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("halos") / "synthetic.parquet"
    write_synthetic(small_spec(1500), path)
    return path


def spec(**training) -> HaloTrainingSpec:
    settings = {
        "batch_halos": 128,
        "divergence_factor": 1000.0,
        "epochs": 2,
        "final_div_factor": 1e5,
        "max_lr": 3e-3,
        "weight_decay": 1e-8,
        **training,
    }
    return HaloTrainingSpec(
        HaloModelSpec(hidden=16, layers=2, loss="mae", msg_dim=8, reg_weight=1e-2),
        HaloTrainingSettings(**settings),
        SplitSpec(),
        UNITS,
        radius=50.0,
        seed=0,
    )


def outputs(folder: Path) -> TrainingOutputs:
    return TrainingOutputs(folder / "model.pt", folder / "history.parquet", folder / "metrics.json")


def test_a_batch_holds_exactly_each_halos_incoming_edges() -> None:
    frame = synthetic_catalogue(small_spec(600))
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), small_spec(600).box, 50.0)
    data = DeviceCatalogue.of(frame, graph, UNITS, torch.device("cpu"))
    halos = torch.tensor([5, 0, 599, 17, 5])  # any order, repeats allowed
    nodes, edges, owner = data.batch(halos)
    features = edge_features(frame, graph, UNITS)
    for row, halo in enumerate(halos.tolist()):
        expected = features[graph.receivers == halo]
        np.testing.assert_array_equal(edges[owner == row].numpy(), expected)
    np.testing.assert_array_equal(nodes.numpy(), node_features(frame, UNITS)[halos.numpy()])


def test_edge_features_are_the_pairs_invariants() -> None:
    spec_ = small_spec(400)
    frame = synthetic_catalogue(spec_)
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), spec_.box, 50.0)
    features = edge_features(frame, graph, UNITS).astype(np.float64)
    e = np.flatnonzero(graph.senders != graph.receivers)[7]
    i, j = graph.receivers[e], graph.senders[e]
    v = frame[["vx", "vy", "vz"]].to_numpy()
    expected = [frame["M"][i] / UNITS.mass, frame["M"][j] / UNITS.mass, graph.distances[e] / UNITS.length]
    expected.append(np.linalg.norm(v[i] - v[j]) / UNITS.velocity)
    np.testing.assert_allclose(features[e], expected, rtol=1e-6)
    assert list(EDGE_INPUTS) == ["m1", "m2", "r", "dv"]


def test_forward_is_phi_v_of_the_summed_phi_e() -> None:
    torch.manual_seed(0)
    model = HaloNetwork(HaloModelSpec(hidden=8, layers=2, loss="mae", msg_dim=3, reg_weight=0.0))
    nodes, edges = torch.randn(4, 2), torch.randn(9, 4)
    owner = torch.tensor([0, 0, 1, 3, 3, 3, 1, 0, 3])  # halo 2 receives nothing
    pred, messages = model(nodes, edges, owner)
    for halo in range(4):
        summed = model.edge_model(edges[owner == halo]).sum(dim=0) if (owner == halo).any() else torch.zeros(3)
        torch.testing.assert_close(pred[halo], model.node(nodes[halo : halo + 1], summed[None])[0])
    assert messages.shape == (9, 3)


def test_splits_divide_the_halos_as_documented() -> None:
    delta = np.random.default_rng(1).normal(0.5, 0.6, 1000)
    split = SplitSpec(test_fraction=0.25, ood_cut=1.0, seed=3)
    random = split.training_halos(delta, "random")
    assert (~random).sum() == 250
    np.testing.assert_array_equal(random, split.training_halos(delta, "random"))
    assert not np.array_equal(random, replace(split, seed=4).training_halos(delta, "random"))
    np.testing.assert_array_equal(split.training_halos(delta, "ood"), delta <= 1.0)
    with pytest.raises(ValueError, match="leaves no test halos"):
        replace(split, ood_cut=10.0).training_halos(delta, "ood")
    with pytest.raises(ValueError, match="unknown split 'time'"):
        split.training_halos(delta, "time")


def test_training_is_byte_reproducible_and_records_its_cell(catalogue: Path, tmp_path: Path) -> None:
    whole = outputs(tmp_path / "whole")
    train_halo_network(spec(), "synthetic/random", catalogue, whole)
    again = outputs(tmp_path / "again")
    train_halo_network(spec(), "synthetic/random", catalogue, again)
    assert whole.model.read_bytes() == again.model.read_bytes()

    metrics = json.loads(whole.metrics.read_text())
    assert metrics["train_halos"] == 1200 and metrics["test_halos"] == 300 and metrics["epochs"] == 2
    model, record = load_halo_network(whole.model)
    assert record["cell"] == "synthetic/random" and record["spec"] == spec()
    assert isinstance(model, HaloNetwork)


def test_an_interrupted_run_resumes_to_the_same_model(catalogue: Path, tmp_path: Path, monkeypatch) -> None:
    import symdistill.cosmology.training as halo_training

    whole = outputs(tmp_path / "whole")
    train_halo_network(spec(), "synthetic/ood", catalogue, whole)
    killed = outputs(tmp_path / "killed")
    calls = []
    original = halo_training.record_epoch

    def killed_after_one(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt  # the job is killed during its second epoch
        calls.append(1)
        original(*args, **kwargs)

    monkeypatch.setattr(halo_training, "record_epoch", killed_after_one)
    with pytest.raises(KeyboardInterrupt):
        train_halo_network(spec(), "synthetic/ood", catalogue, killed)
    assert killed.checkpoint.exists() and not killed.model.exists()
    monkeypatch.setattr(halo_training, "record_epoch", original)
    train_halo_network(spec(), "synthetic/ood", catalogue, killed)
    state = torch.load(killed.model, weights_only=True)
    expected = torch.load(whole.model, weights_only=True)
    for key, value in expected["state_dict"].items():
        torch.testing.assert_close(state["state_dict"][key], value, rtol=0, atol=0)


def test_a_diverged_loss_stops_the_job_without_a_model(catalogue: Path, tmp_path: Path) -> None:
    bad = outputs(tmp_path / "bad")
    with pytest.raises(TrainingError, match="diverged|became nan"):
        train_halo_network(spec(max_lr=1e4, divergence_factor=1.5), "synthetic/random", catalogue, bad)
    assert not bad.model.exists() and not bad.metrics.exists()


def test_a_foreign_file_is_not_a_halo_network(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"format": "symdistill.model/1"}, path)
    with pytest.raises(ValueError, match="not a symdistill halo network"):
        load_halo_network(path)
    path.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable model file"):
        load_halo_network(path)


def test_a_batch_and_a_training_step_never_read_the_device() -> None:
    """Issue 36: each step read the device twice (int(counts.sum()); repeat_interleave without output_size), which
    stops the host until a GPU catches up. On torch's meta device any such read fails: the step runs there."""
    frame = synthetic_catalogue(small_spec(600))
    graph = HaloGraph.build(frame[["x", "y", "z"]].to_numpy(), small_spec(600).box, 50.0)
    data = DeviceCatalogue.of(frame, graph, UNITS, torch.device("meta"))
    model = HaloNetwork(HaloModelSpec(hidden=16, layers=2, loss="mae", msg_dim=8, reg_weight=1e-2)).to("meta")
    halos = torch.tensor([5, 0, 599, 17, 5])
    nodes, edges, owner = data.batch(halos)
    assert edges.device.type == "meta" and len(edges) == sum(int((graph.receivers == h).sum()) for h in halos)
    pred, messages = model(nodes, edges, owner)
    ((pred - data.targets(halos)).abs().mean() + messages.abs().sum()).backward()

"""Training: objective values by hand, a real short run learns, kill-and-resume equals uninterrupted, NaN stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import tiny_training_spec, train_tiny_cell

from symdistill.engine.devices import DeviceError, training_device
from symdistill.engine.model_files import resume, save_checkpoint
from symdistill.engine.training import TrainingError, check_divergence
from symdistill.nbody.models import EdgeOutput, Graph, GraphNetwork
from symdistill.nbody.train import load_model, loss_sum, message_penalty, new_run, regularizer


def test_losses_by_hand() -> None:
    pred, target = torch.tensor([[0.0, 3.0]]), torch.tensor([[1.0, 0.5]])  # errors −1, 2.5
    assert float(loss_sum(pred, target, "mae")) == pytest.approx(3.5)
    assert float(loss_sum(pred, target, "mse")) == pytest.approx(1 + 6.25)
    assert float(loss_sum(pred, target, "huber", delta=1.0)) == pytest.approx(0.5 + (2.5 - 0.5))


def test_penalties_by_hand() -> None:
    l1 = EdgeOutput(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    assert float(message_penalty("l1", l1)) == pytest.approx(3.5)
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    kl = EdgeOutput(mu, mu, logvar)  # ½Σ(e^lv + μ² − lv) = ½[(1 + 1 − 0) + (e² + 0 − 2)]
    assert float(message_penalty("kl", kl)) == pytest.approx(0.5 * (2 + torch.e**2 - 2))
    hamiltonian = EdgeOutput(
        torch.zeros(1, 2, 1),
        node_energy=torch.tensor([[[1.0], [-2.0]]]),
        parameter_gradient=torch.tensor([[[0.5, 0.0], [0.0, 3.0]]]),
    )
    assert float(message_penalty("hamiltonian", hamiltonian)) == pytest.approx(1 + 4 + 0.25 + 9)


def test_regulariser_scopes_share_the_reference_scale() -> None:
    """α·Σ|m|/n over the batch, or α·B·Σ_{graph 0}|m|/n: equal when all graphs are identical."""
    torch.manual_seed(0)
    model = GraphNetwork(6, 5, 2, hidden=8)
    graph = Graph.for_system("spring", 4)
    x = torch.randn(1, 4, 6).repeat(3, 1, 1)
    with torch.no_grad():
        _, edges = model.run(x, graph)
    spec = tiny_training_spec("l1").model
    assert (spec.regularizer, spec.reg_weight, spec.reg_scope) == ("l1", 0.01, "all_graphs")
    with torch.no_grad():
        everyone = regularizer(model, spec, edges, x, graph)
        first = regularizer(model, replace(spec, reg_scope="first_graph"), edges, x, graph)
    assert float(everyone) == pytest.approx(0.01 * float(edges.message.abs().sum()) / 4)
    assert float(first) == pytest.approx(float(everyone), rel=1e-5)
    assert float(regularizer(model, replace(spec, regularizer="none"), edges, x, graph)) == 0.0


def test_short_real_training_lowers_the_loss_and_writes_the_contract(tmp_path: Path, spring_data) -> None:
    out = train_tiny_cell(tmp_path, spring_data, tiny_training_spec("l1", epochs=4, graphs_per_epoch=4096, max_lr=3e-3))
    history = pd.read_parquet(out / "history.parquet")
    assert list(history.columns) == ["epoch", "train_loss", "test_loss", "lr", "graphs", "seconds", "message_std"]
    assert history["train_loss"].iloc[-1] < 0.7 * history["train_loss"].iloc[0]
    assert len(history["message_std"].iloc[0]) == 8
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_graphs"] == 200 and metrics["test_loss"] > 0 and metrics["device"] == "cpu"
    model, record = load_model(out / "model.pt")
    assert record["model"].regularizer == "l1" and len(record["data_sha256"]["train"]) == 64
    assert not (out / "checkpoint.pt").exists()


def test_variational_model_trains(tmp_path: Path, spring_data) -> None:
    out = train_tiny_cell(tmp_path, spring_data, tiny_training_spec("kl", "vargn", epochs=1))
    assert json.loads((out / "metrics.json").read_text())["test_loss"] > 0


def test_flathgn_trains_and_lowers_the_loss(tmp_path: Path, spring_data) -> None:
    spec = tiny_training_spec("hamiltonian", "hgn", msg_dim=1, epochs=3, graphs_per_epoch=2048, max_lr=3e-3)
    out = train_tiny_cell(tmp_path, spring_data, spec)
    history = pd.read_parquet(out / "history.parquet")
    assert history["train_loss"].iloc[-1] < 0.8 * history["train_loss"].iloc[0]
    assert len(history["message_std"].iloc[0]) == 1  # one message: the pair energy
    model, record = load_model(out / "model.pt")
    assert record["model"].architecture == "hgn" and model.msg_dim == 1


def test_diverging_loss_stops_with_the_cell_and_epoch_and_no_model(tmp_path: Path, spring_data) -> None:
    spec = tiny_training_spec(max_lr=1e12, epochs=2)
    with pytest.raises(TrainingError, match=r"spring_2d_n4/test/seed0: the training loss became (nan|inf) in epoch 1"):
        train_tiny_cell(tmp_path, spring_data, spec)
    assert not (tmp_path / "cell" / "model.pt").exists()


def test_a_finite_but_diverged_loss_stops_like_nan(tmp_path: Path, spring_data) -> None:
    """max_lr 100 used to be accepted and written (train loss 7e22)."""
    with pytest.raises(TrainingError, match=r"spring_2d_n4/test/seed0: the training loss diverged in epoch 1"):
        train_tiny_cell(tmp_path, spring_data, tiny_training_spec(max_lr=100.0, epochs=4))
    assert not (tmp_path / "cell" / "model.pt").exists()
    check_divergence("c", 2, 1999.0, 2.0, 1000.0)
    with pytest.raises(
        TrainingError,
        match=r"c: the training loss diverged in epoch 2: 2e\+03 > training.divergence_factor "
        r"\(1000\) × the untrained network's 2",
    ):
        check_divergence("c", 2, 2001.0, 2.0, 1000.0)


def test_killed_run_resumes_to_the_same_weights(tmp_path: Path, spring_data) -> None:
    spec = tiny_training_spec("l1", epochs=5, graphs_per_epoch=16384)
    reference = train_tiny_cell(tmp_path / "uninterrupted", spring_data, spec)

    interrupted = tmp_path / "interrupted"
    script = (
        "import sys, json; sys.path.insert(0, sys.argv[1]);"
        "from conftest import *; from symdistill.nbody.train import TrainingSpec, train_cell;"
        "from symdistill.engine.training import TrainingOutputs; from symdistill.nbody.data import SplitFiles;"
        "spec = TrainingSpec.from_params(json.loads(sys.argv[2])); out = sys.argv[3];"
        "train_cell(spec, 'spring_2d_n4/test/seed0', SplitFiles(sys.argv[4], sys.argv[5]),"
        " TrainingOutputs(out + '/model.pt', out + '/history.parquet', out + '/metrics.json'), threads=1)"
    )
    args = [
        sys.executable,
        "-c",
        script,
        str(Path(__file__).parent),
        json.dumps(asdict(spec)),
        str(interrupted / "cell"),
        *map(str, spring_data),
    ]
    process = subprocess.Popen(args)
    checkpoint = interrupted / "cell" / "checkpoint.pt"
    deadline = time.time() + 300
    while not _epoch(checkpoint) >= 2 and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert 2 <= _epoch(checkpoint) < 5 and not (interrupted / "cell" / "model.pt").exists()

    resumed = train_tiny_cell(interrupted, spring_data, spec)
    expected, _ = load_model(reference / "model.pt")
    got, _ = load_model(resumed / "model.pt")
    for (name, a), (_, b) in zip(expected.state_dict().items(), got.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    # byte for byte: the file names no temporary path (torch.save names its archive after the file it writes)
    assert (reference / "model.pt").read_bytes() == (resumed / "model.pt").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(reference / "history.parquet").drop(columns="seconds"),
        pd.read_parquet(resumed / "history.parquet").drop(columns="seconds"),
    )
    metrics = json.loads((resumed / "metrics.json").read_text())
    assert metrics["wall_seconds"] >= metrics["train_seconds"]  # the killed attempt's time is counted too


def _epoch(checkpoint: Path) -> int:
    try:
        return torch.load(checkpoint, weights_only=True)["epoch"]  # a checkpoint holds weights and plain values
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0


def _saved_cpu_run(path: Path, cuda_states: list[torch.Tensor] | None = None):
    """A CPU run after one epoch, checkpointed to ``path`` (with ``cuda_states`` as a GPU node records them)."""
    spec = tiny_training_spec()
    run = new_run(spec, torch.device("cpu"))
    run.epoch, run.history = 1, [{"epoch": 1, "train_loss": 1.0, "seconds": 1.0}]
    torch.manual_seed(123)
    save_checkpoint(path, run, "fingerprint", 1.0)
    if cuda_states is not None:
        state = torch.load(path, weights_only=True)
        state["rng"]["cuda"] = cuda_states
        torch.save(state, path)
    return spec, torch.get_rng_state()


def test_a_checkpoint_resumes_onto_a_device_other_than_the_cpu(tmp_path: Path) -> None:
    """Issue 36: the checkpoint was loaded onto the model's device, its CPU random state with it, and
    torch.set_rng_state refused a non-CPU tensor ("RNG state must be a torch.ByteTensor"): every retry of a GPU job
    failed. torch's meta device stands in for a GPU."""
    spec, saved_rng = _saved_cpu_run(tmp_path / "checkpoint.pt")
    torch.manual_seed(0)
    on_meta = new_run(spec, torch.device("meta"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying real weights into meta parameters is a no-op, and says so
        assert resume(tmp_path / "checkpoint.pt", on_meta, "fingerprint")
    assert on_meta.epoch == 1 and torch.equal(torch.get_rng_state(), saved_rng)
    assert next(on_meta.model.parameters()).device.type == "meta"
    assert all(v.device.type == "meta" for s in on_meta.optimizer.state.values() for v in s.values() if v.dim())


def test_a_checkpoint_from_a_gpu_node_resumes_on_the_cpu(tmp_path: Path) -> None:
    """A job requeued from a GPU node onto a CPU one: the CUDA generators' states are kept in the file and the CPU
    generator's restored."""
    spec, saved_rng = _saved_cpu_run(tmp_path / "checkpoint.pt", [torch.zeros(16, dtype=torch.uint8)])
    torch.manual_seed(0)
    run = new_run(spec, torch.device("cpu"))
    assert resume(tmp_path / "checkpoint.pt", run, "fingerprint")
    assert run.epoch == 1 and torch.equal(torch.get_rng_state(), saved_rng)


def test_foreign_model_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"weights": 1}, path)
    with pytest.raises(ValueError, match="model.pt: not a symdistill model"):
        load_model(path)


def test_auto_in_a_slurm_gpu_job_without_cuda_fails_naming_torchs_build() -> None:
    """Issue 36: a GPU job whose torch cannot use CUDA (a CPU-only build, or one newer than the node's driver)
    trained on the CPU threads of its allocation, and only metrics.json told."""
    assert not torch.cuda.is_available()  # the CPU machines this suite runs on
    with pytest.raises(
        DeviceError,
        match=rf"^SLURM gave this job a GPU \(SLURM_JOB_GPUS=0\), but torch {re.escape(torch.__version__)} cannot",
    ):
        training_device("auto", {"SLURM_JOB_GPUS": "0"})
    with pytest.raises(
        DeviceError, match=r"^training.device is cuda, but torch .* cannot use CUDA: .*training.device: cpu"
    ):
        training_device("cuda", {})
    assert training_device("auto", {}) == training_device("cpu", {"SLURM_JOB_GPUS": "0"}) == torch.device("cpu")


def test_every_training_process_runs_deterministic_kernels() -> None:
    """index_add_ (the message sums) is atomic on CUDA unless deterministic algorithms are on."""
    torch.use_deterministic_algorithms(False)
    training_device("cpu", {})
    assert torch.are_deterministic_algorithms_enabled() and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"

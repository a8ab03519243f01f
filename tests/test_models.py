"""The graph networks: shapes, the fast path equals PyG's propagate, equivariance, message sizes, KL sampling."""

from __future__ import annotations

import pytest
import torch

from symdistill.nbody.models import Graph, GraphNetwork, ModelSpec, VariationalGraphNetwork, build_model


def variant(architecture: str, msg_dim: int, hidden: int) -> ModelSpec:
    """A resolved variant with the schema's defaults for what these tests do not vary."""
    return ModelSpec(architecture, hidden, 1.0, "mae", msg_dim, "all_graphs", 0.0, "none")


@pytest.fixture
def batch() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(5, 4, 6)


def test_fast_path_equals_pyg_propagate(batch: torch.Tensor) -> None:
    torch.manual_seed(1)
    model = GraphNetwork(6, 100, 2, hidden=300)
    graph = Graph.for_system("spring", 4)
    fast, edges = model.run(batch, graph)
    pyg = model(batch.reshape(-1, 6), graph.batched_edge_index(5)).reshape(5, 4, 2)
    assert fast.shape == (5, 4, 2) and edges.message.shape == (5, 12, 100)
    torch.testing.assert_close(fast, pyg, rtol=1e-5, atol=1e-6)


def test_chain_graph_of_the_string_uses_index_add_correctly() -> None:
    torch.manual_seed(2)
    model = GraphNetwork(6, 3, 2, hidden=16)
    graph = Graph.for_system("string", 5)
    x = torch.randn(3, 5, 6)
    torch.testing.assert_close(
        model.run(x, graph)[0], model(x.reshape(-1, 6), graph.batched_edge_index(3)).reshape(3, 5, 2)
    )


def test_permutation_equivariance(batch: torch.Tensor) -> None:
    torch.manual_seed(3)
    model = GraphNetwork(6, 10, 2, hidden=32)
    graph = Graph.for_system("spring", 4)
    perm = torch.tensor([2, 0, 3, 1])
    out, _ = model.run(batch, graph)
    permuted, _ = model.run(batch[:, perm], graph)
    torch.testing.assert_close(permuted, out[:, perm], rtol=1e-5, atol=1e-6)


def test_messages_use_receiver_then_sender() -> None:
    model = GraphNetwork(6, 4, 2, hidden=8)
    receiver, sender = torch.randn(1, 6), torch.randn(1, 6)
    expected = model.edge_model(torch.cat([receiver, sender], dim=-1))
    torch.testing.assert_close(model.edge_output(receiver, sender).message, expected)


@pytest.mark.parametrize(("msg_dim", "dim", "expected"), [("dim", 2, 2), ("dim", 3, 3), (100, 2, 100)])
def test_message_size_follows_the_variant(msg_dim, dim: int, expected: int) -> None:
    resolved = dim if msg_dim == "dim" else msg_dim
    model = build_model(variant("gn", resolved, 300), dim)
    assert model.edge_model[-1].out_features == expected
    assert model.node_model[0].in_features == 2 * dim + 2 + expected
    assert len([m for m in model.edge_model if isinstance(m, torch.nn.Linear)]) == 4  # 3 hidden layers


def test_variational_messages_interleave_mean_and_logvar_and_sample(batch: torch.Tensor) -> None:
    torch.manual_seed(4)
    model = VariationalGraphNetwork(6, 3, 2, hidden=16)
    assert model.edge_model[-1].out_features == 6
    receiver, sender = batch[:, 0], batch[:, 1]
    raw = model.edge_model(torch.cat([receiver, sender], dim=-1))
    first = model.edge_output(receiver, sender)
    torch.testing.assert_close(first.mu, raw[:, 0::2])
    torch.testing.assert_close(first.logvar, raw[:, 1::2])
    second = model.edge_output(receiver, sender)
    assert not torch.equal(first.message, second.message)  # one sample per pass, as the reference
    model.sample = False
    torch.testing.assert_close(model.edge_output(receiver, sender).message, raw[:, 0::2])


@pytest.mark.parametrize("architecture", ["pm", "cust"])
def test_fork_variants_follow_the_message_size_and_match_pyg(architecture: str, batch: torch.Tensor) -> None:
    torch.manual_seed(5)
    model = build_model(variant(architecture, 3, 40), 2)
    graph = Graph.for_system("spring", 4)
    out, edges = model.run(batch, graph)
    assert out.shape == (5, 4, 2) and edges.message.shape == (5, 12, 3)
    torch.testing.assert_close(out, model(batch.reshape(-1, 6), graph.batched_edge_index(5)).reshape(5, 4, 2))


def test_pm_edge_model_widths() -> None:
    model = build_model(variant("pm", 100, 300), 2)
    widths = [m.out_features for m in model.edge_model if isinstance(m, torch.nn.Linear)]
    assert widths == [300, 450, 600, 450, 300, 100]


# ---------------------------------------------------------------- FlatHGN


class SpringPairEnergy(torch.nn.Module):
    """½(r' − 1)² per directed edge: the spring potential, each pair counted in both directions."""

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        receiver, sender = pair[..., :6], pair[..., 6:]
        r = (receiver[..., :2] - sender[..., :2]).norm(dim=-1, keepdim=True) + 0.01
        return 0.5 * (r - 1) ** 2


class KineticEnergy(torch.nn.Module):
    """|p|²/2m on phase-space features [q, p, charge, m]."""

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return (state[..., 2:4] ** 2).sum(dim=-1, keepdim=True) / (2 * state[..., -1:])


def test_flathgn_dynamics_are_hamiltons_equations_for_a_known_hamiltonian() -> None:
    """With H_pair and H_self set to the spring system's energies, the accelerations are the simulator's."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from symdistill.nbody.systems import acceleration

    model = build_model(variant("hgn", 1, 16), 2)
    model.pair_energy, model.self_energy = SpringPairEnergy(), KineticEnergy()
    x = torch.randn(5, 4, 6, dtype=torch.float64)
    x[..., -1] = x[..., -1].exp()
    with jax.enable_x64(True):
        truth = np.stack([np.asarray(acceleration("spring", jnp.asarray(g.numpy()), 2)) for g in x])
    with torch.no_grad():
        pred, edges = model.double().run(x, Graph.for_system("spring", 4))
    torch.testing.assert_close(pred, torch.from_numpy(truth))
    assert edges.message.shape == (5, 12, 1) and edges.node_energy.shape == (5, 4, 1)
    assert not pred.requires_grad  # evaluation keeps no graph


def test_flathgn_momenta_enter_the_energies_and_training_differentiates_twice() -> None:
    model = build_model(variant("hgn", 1, 16), 2)
    x = torch.randn(3, 4, 6)
    x[..., -1] = x[..., -1].exp()
    graph = Graph.for_system("spring", 4)
    message = model.edge_output(x[:, graph.receivers], x[:, graph.senders]).message
    state = model.phase_space(x)
    torch.testing.assert_close(state[..., 2:4], x[..., 2:4] * x[..., -1:])
    pred, edges = model.run(x, graph)
    torch.testing.assert_close(edges.message, message)
    pred.abs().sum().backward()  # the loss on −∂H/∂q reaches the energies' weights (biases of H: no effect)
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    assert len(weights) == 8 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    with pytest.raises(ValueError, match="msg_dim must be 1"):
        build_model(variant("hgn", 2, 16), 2)


# What model.pt files hold (``state_dict``): a network's description (docstring, sizes, repr) must leave it alone,
# or every model file written before would stop loading.
STATE_KEYS = {
    "gn": [
        f"{part}.{k}.{p}" for part in ("edge_model", "node_model") for k in (0, 2, 4, 6) for p in ("weight", "bias")
    ],
    "pm": [f"edge_model.{k}.{p}" for k in (0, 2, 4, 6, 8, 10) for p in ("weight", "bias")]
    + [f"node_model.{k}.{p}" for k in (0, 2, 4, 6) for p in ("weight", "bias")],
    "cust": [f"edge_model.{m}.{p}" for m in ("encode", "inverse", "inverse_square", "out") for p in ("weight", "bias")]
    + [f"node_model.{k}.{p}" for k in (0, 2, 4, 6) for p in ("weight", "bias")],
    "hgn": [
        f"{part}.{k}.{p}" for part in ("pair_energy", "self_energy") for k in (0, 2, 4, 6) for p in ("weight", "bias")
    ],
}
STATE_KEYS["vargn"] = STATE_KEYS["gn"]


@pytest.mark.parametrize("architecture", sorted(STATE_KEYS))
def test_a_network_describes_itself_and_keeps_its_state_keys(architecture: str) -> None:
    msg_dim = 1 if architecture == "hgn" else 3
    spec = ModelSpec(architecture, 16, 1.0, "mae", msg_dim, "all_graphs", 0.01, "none")
    model = build_model(spec, 2)
    assert sorted(model.state_dict()) == sorted(STATE_KEYS[architecture])
    assert (model.n_features, model.msg_dim, model.dim, model.hidden) == (6, msg_dim, 2, 16)
    assert f"n_features=6, msg_dim={msg_dim}, dim=2, hidden=16" in repr(model).splitlines()[1]
    assert type(model).__doc__ and "Shapes" in (type(model).__doc__ + (GraphNetwork.__doc__ or ""))


def test_the_halo_network_describes_itself_and_keeps_its_state_keys() -> None:
    from symdistill.cosmology.network import HaloModelSpec, HaloNetwork

    model = HaloNetwork(HaloModelSpec(hidden=8, layers=2, loss="mae", msg_dim=3, reg_weight=0.01))
    mlp = [f"{k}.{p}" for k in (0, 2, 4) for p in ("weight", "bias")]
    expected = ["edge_model.0.mean", "edge_model.0.std", *(f"edge_model.1.{k}" for k in mlp)]
    expected += ["node_input.mean", "node_input.std", *(f"node_model.{k}" for k in mlp)]
    assert sorted(model.state_dict()) == sorted(expected)
    assert "edge_inputs=4, node_inputs=2, msg_dim=3, hidden=8, layers=2" in repr(model)
    assert "Standardise(features=4)" in repr(model)

"""The paper's graph networks on PyTorch Geometric: edge model φe, sum aggregation, node model φv.

φe maps a directed edge's [receiver, sender] features to a message; the messages arriving at a node are
summed; φv maps [node features, summed message] to the node's acceleration. Standard, Bottleneck and L1 are
this network with different message sizes and regularisers; KL makes the messages variational.
FlatHGN replaces φv by physics: the messages are pair energies, their sum with self energies is a
Hamiltonian, and the accelerations are its derivatives.

Two ways through the same modules:
- ``forward(x, edge_index)`` is PyG's ``propagate`` on any graph (flattened nodes, explicit edges);
- ``run(x, graph)`` takes a batch of same-size graphs as one (graphs, nodes, features) tensor and applies
  φe to all edges with a single matrix product per layer. Training uses it: the per-graph ``Data``
  collation of the reference costs more than the network itself on these small graphs.
Both give the same numbers (tests/test_models.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from symdistill.core.specs import Spec, spec_from
from symdistill.core.vocabulary import PRUNABLE
from symdistill.engine.mlp import mlp
from symdistill.nbody.systems import edge_index as system_edges


@dataclass(frozen=True)
class Graph:
    """A system's directed edges, sorted by receiver, as index tensors on the model's device."""

    senders: Tensor
    receivers: Tensor
    n: int

    @classmethod
    def for_system(cls, sim: str, n: int, device: torch.device | str = "cpu") -> Graph:
        senders, receivers = system_edges(sim, n)
        return cls(torch.tensor(senders, device=device), torch.tensor(receivers, device=device), n)

    def batched_edge_index(self, graphs: int) -> Tensor:
        """PyG's edge_index for ``graphs`` copies of this graph, nodes numbered graph by graph."""
        offsets = torch.arange(graphs, device=self.senders.device).repeat_interleave(len(self.senders)) * self.n
        return torch.stack([self.senders.repeat(graphs) + offsets, self.receivers.repeat(graphs) + offsets])


@dataclass
class EdgeOutput:
    """Messages of a set of edges; for variational messages also their mean and log-variance.

    A Hamiltonian network also returns what its regulariser needs: each node's energy (incoming pair
    energies plus self energy) and ∂H/∂(charge, mass), the derivative along the non-dynamical features.
    """

    message: Tensor
    mu: Tensor | None = None
    logvar: Tensor | None = None
    node_energy: Tensor | None = None
    parameter_gradient: Tensor | None = None


class GraphNetwork(MessagePassing):
    r"""The GN of the paper ("OGN" in the reference code): φe, sum aggregation, φv predicting acceleration.

    .. math::

        \mathbf{e}_{ij} = \phi_e([\mathbf{x}_i, \mathbf{x}_j]), \qquad
        \bar{\mathbf{e}}_i = \sum_{j \in \mathcal{N}(i)} \mathbf{e}_{ij}, \qquad
        \hat{\mathbf{a}}_i = \phi_v([\mathbf{x}_i, \bar{\mathbf{e}}_i])

    for every directed edge j → i (j the sender, i the receiver; ``edge_index[0]`` sends), with φe and φv MLPs
    of three hidden layers of ``hidden`` units (ReLU). A node's features are [positions, velocities, charge,
    mass], ``n_features`` = 2·dim + 2.

    Shapes: ``run`` takes a batch of same-size graphs x (graphs, n, n_features) and returns the accelerations
    (graphs, n, dim) and the messages (graphs, edges, msg_dim); ``forward`` (PyG's ``propagate``) takes flattened
    nodes (N, n_features) and edge_index (2, E) and returns (N, dim).

    Args: ``n_features``, ``msg_dim`` (the message's components), ``dim`` (the output: spatial dimensions),
    ``hidden``: kept as attributes of the same names, shown by ``repr``.
    """

    def __init__(self, n_features: int, msg_dim: int, dim: int, hidden: int = 300):
        super().__init__(aggr="add", flow="source_to_target")
        self.n_features, self.dim, self.hidden = n_features, dim, hidden
        self.msg_dim = msg_dim
        self.edge_model = self.make_edge_model(2 * n_features, hidden, self.edge_outputs(msg_dim))  # φe
        self.node_model = mlp(n_features + msg_dim, hidden, dim)  # φv
        self.register_buffer("message_mask", None)  # a pruned variant's (add_message_mask); None: every component

    def add_message_mask(self) -> None:
        """A 0/1 mask on φe's output, every component kept at first: the pruned variant's (``Pruning``). A buffer,
        so it is saved with the weights, follows the model's device and comes back with a checkpoint."""
        self.message_mask = torch.ones(self.msg_dim)

    __repr__ = nn.Module.__repr__  # the sizes and the submodules (PyG's repr shows the class name alone)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, msg_dim={self.msg_dim}, dim={self.dim}, hidden={self.hidden}, aggr=add"

    @staticmethod
    def make_edge_model(n_in: int, hidden: int, n_out: int) -> nn.Module:
        return mlp(n_in, hidden, n_out)

    @staticmethod
    def edge_outputs(msg_dim: int) -> int:
        return msg_dim

    def edge_output(self, receiver: Tensor, sender: Tensor) -> EdgeOutput:
        """φe on [receiver, sender]: the receiver comes first, as in the reference's message function; a pruned
        variant's masked components are zero, in training and evaluation alike."""
        message = self.edge_model(torch.cat([receiver, sender], dim=-1))
        return EdgeOutput(message if self.message_mask is None else message * self.message_mask)

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        return self.edge_output(x_i, x_j).message

    def update(self, aggr_out: Tensor, x: Tensor) -> Tensor:
        return self.node_model(torch.cat([x, aggr_out], dim=-1))

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x)

    def run(self, x: Tensor, graph: Graph) -> tuple[Tensor, EdgeOutput]:
        """Accelerations (graphs, n, dim) and the edge outputs (graphs, edges, ·) of a batch of graphs."""
        summed, edges = self.summed_messages(x, graph)
        return self.node_model(torch.cat([x, summed], dim=-1)), edges

    def summed_messages(self, x: Tensor, graph: Graph) -> tuple[Tensor, EdgeOutput]:
        """Each node's sum of incoming messages (graphs, n, msg_dim): φv's input beside the node's features."""
        edges = self.edge_output(x[:, graph.receivers], x[:, graph.senders])
        summed = x.new_zeros(x.shape[0], graph.n, self.msg_dim).index_add_(1, graph.receivers, edges.message)
        return summed, edges


class VariationalGraphNetwork(GraphNetwork):
    r"""KL variant ("varOGN"): φe outputs a mean and a log-variance per message component,

    .. math::

        [\boldsymbol\mu_{ij}, \log\boldsymbol\sigma^2_{ij}] = \phi_e([\mathbf{x}_i, \mathbf{x}_j]), \qquad
        \mathbf{e}_{ij} = \boldsymbol\mu_{ij} + \boldsymbol\sigma_{ij} \odot \boldsymbol\epsilon,
        \quad \boldsymbol\epsilon \sim \mathcal{N}(0, I)

    φe has 2·msg_dim outputs (edges, 2·msg_dim). As in the reference, the two are interleaved (μ = columns 0, 2,
    4, …; log σ² = 1, 3, 5, …) and the message is one sample μ + σ·ε per forward pass, in training and in
    evaluation alike (``sample``). Sizes and shapes as ``GraphNetwork``'s.
    """

    sample: bool = True

    @staticmethod
    def edge_outputs(msg_dim: int) -> int:
        return 2 * msg_dim

    def edge_output(self, receiver: Tensor, sender: Tensor) -> EdgeOutput:
        raw = self.edge_model(torch.cat([receiver, sender], dim=-1))
        mu, logvar = raw[..., 0::2], raw[..., 1::2]
        message = mu + torch.randn_like(mu) * torch.exp(logvar / 2) if self.sample else mu
        return EdgeOutput(message, mu, logvar)


class PlusMinusGraphNetwork(GraphNetwork):
    """The fork's "PM" (BernardoRicci/symbolic_deep_learning): a deeper, wider φe, 300-450-600-450-300.

    The widths scale with ``hidden`` (1, 1.5, 2, 1.5, 1 ×); the fork hard-wires the output to 100, here it
    follows the variant's message size. φv, the sum and the shapes as ``GraphNetwork``'s.
    """

    @staticmethod
    def make_edge_model(n_in: int, hidden: int, n_out: int) -> nn.Module:
        widths = [n_in, hidden, hidden * 3 // 2, 2 * hidden, hidden * 3 // 2, hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(hidden, n_out))


class InverseFeatures(nn.Module):
    """The fork's "CUST" φe: h = ReLU(W x) + 1; message = W' [A (1/h), B (1/h²)], a bias towards inverse laws.

    Shapes: (..., n_in) → (..., n_out), through ``hidden`` units (A and B are hidden × hidden).
    """

    def __init__(self, n_in: int, hidden: int, n_out: int):
        super().__init__()
        self.n_in, self.hidden, self.n_out = n_in, hidden, n_out
        self.encode = nn.Linear(n_in, hidden)
        self.inverse = nn.Linear(hidden, hidden)
        self.inverse_square = nn.Linear(hidden, hidden)
        self.out = nn.Linear(2 * hidden, n_out)

    def extra_repr(self) -> str:
        return f"n_in={self.n_in}, hidden={self.hidden}, n_out={self.n_out}"

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.encode(x)) + 1
        return self.out(torch.cat([self.inverse(1 / h), self.inverse_square(1 / h**2)], dim=-1))


class CustomGraphNetwork(GraphNetwork):
    """The fork's "CUST": φe built from inverse and inverse-square features (``InverseFeatures``); φv, the sum and
    the shapes as ``GraphNetwork``'s."""

    @staticmethod
    def make_edge_model(n_in: int, hidden: int, n_out: int) -> nn.Module:
        return InverseFeatures(n_in, hidden, n_out)


class FlatHGN(nn.Module):
    r"""The paper's flattened Hamiltonian graph network:

    .. math::

        H = \sum_{j \to i} H_{\rm pair}(\mathbf{z}_i, \mathbf{z}_j) + \sum_i H_{\rm self}(\mathbf{z}_i),
        \qquad \hat{\mathbf{a}}_i = -\frac{1}{m_i} \frac{\partial H}{\partial \mathbf{q}_i}

    Both energies are Softplus MLPs (smooth, so that the loss on ∂H/∂q has useful second derivatives) on
    phase-space features z = [q, p = m·v, charge, m]. The dynamics are Hamilton's, taken by autograd; the loss
    sees only dv/dt, as the reference. The message of an edge is its pair energy, a scalar: the inductive bias
    itself is the bottleneck, so ``msg_dim`` is 1.

    Shapes: ``run`` takes x (graphs, n, n_features) and returns the accelerations (graphs, n, dim) and the pair
    energies (graphs, edges, 1). Sizes (``n_features``, ``dim``, ``hidden``, ``msg_dim``) are attributes.
    """

    def __init__(self, n_features: int, msg_dim: int, dim: int, hidden: int = 300):
        super().__init__()
        if msg_dim != 1:
            raise ValueError(f"FlatHGN's message is the scalar pair energy: msg_dim must be 1, not {msg_dim}")
        self.n_features, self.hidden = n_features, hidden
        self.dim, self.msg_dim = dim, 1
        self.pair_energy = mlp(2 * n_features, hidden, 1, nn.Softplus)  # H_pair
        self.self_energy = mlp(n_features, hidden, 1, nn.Softplus)  # H_self

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, msg_dim={self.msg_dim}, dim={self.dim}, hidden={self.hidden}"

    def phase_space(self, x: Tensor) -> Tensor:
        """[q, v, charge, m] → [q, p = m·v, charge, m]."""
        d = self.dim
        return torch.cat([x[..., :d], x[..., d : 2 * d] * x[..., -1:], x[..., 2 * d :]], dim=-1)

    def edge_output(self, receiver: Tensor, sender: Tensor) -> EdgeOutput:
        """H_pair of each (receiver, sender) edge."""
        return EdgeOutput(self.pair_energy(torch.cat([self.phase_space(receiver), self.phase_space(sender)], dim=-1)))

    def run(self, x: Tensor, graph: Graph) -> tuple[Tensor, EdgeOutput]:
        """Accelerations −(∂H/∂q)/m of a batch of graphs, and the pair energies as messages.

        Under ``torch.no_grad`` (evaluation) the derivative is still taken, but not kept differentiable.
        """
        differentiable = torch.is_grad_enabled()
        with torch.enable_grad():
            state = self.phase_space(x).detach().requires_grad_(True)
            pair = self.pair_energy(torch.cat([state[:, graph.receivers], state[:, graph.senders]], dim=-1))
            node = x.new_zeros(x.shape[0], graph.n, 1).index_add_(1, graph.receivers, pair) + self.self_energy(state)
            (grad,) = torch.autograd.grad(node.sum(), state, create_graph=differentiable)
        if not differentiable:
            pair, node = pair.detach(), node.detach()
        d = self.dim
        return -grad[..., :d] / x[..., -1:], EdgeOutput(pair, node_energy=node, parameter_gradient=grad[..., 2 * d :])


Network = GraphNetwork | FlatHGN

ARCHITECTURES: dict[str, type[Network]] = {
    "gn": GraphNetwork,
    "vargn": VariationalGraphNetwork,
    "pm": PlusMinusGraphNetwork,
    "cust": CustomGraphNetwork,
    "hgn": FlatHGN,
}


@dataclass(frozen=True)
class Pruning(Spec):
    """Tan et al.'s pruned messages (config ``models.NAME.pruning``; github: elizabethsztan/symbolic_distillation_GNNs,
    ``PruningGN`` in model.py): a network with ``msg_dim`` (100) components masks, at the start of each epoch,
    all but the ``kept`` ones of largest std over held-out edges, on a cosine schedule that reaches ``keep`` (dim)
    after ``end_fraction`` of the epochs (theirs: 0.65 of 100); it then trains as a ``keep``-component bottleneck.
    The schedule is theirs with its ``ceil`` (kept(e) = max(M − ⌈(M − k)(1 − cos(πe/E))/2⌉, k), E =
    ⌊end_fraction · epochs⌋), so it reaches ``keep`` a little before E."""

    end_fraction: float
    keep: int

    def __post_init__(self) -> None:
        if not 0 <= self.end_fraction <= 1 or self.keep < 1:
            raise ValueError(f"pruning: end_fraction in [0, 1] and keep ≥ 1 expected, got {self}")

    def kept(self, msg_dim: int, epoch: int, epochs: int) -> int:
        """Components kept during epoch ``epoch`` (counted from 0) of ``epochs``."""
        end = int(self.end_fraction * epochs)
        if epoch >= end:
            return self.keep
        pruned = math.ceil((msg_dim - self.keep) * (1 - math.cos(math.pi * epoch / end)) / 2)
        return max(msg_dim - pruned, self.keep)


@dataclass(frozen=True)
class ModelSpec(Spec):
    """A resolved model variant: config ``models.NAME`` less ``sims`` and ``training``, ``msg_dim`` a number.

    Fields in alphabetical order, as ``symdistill.config.params.model_params`` sorts them: ``asdict`` then gives the
    record model.pt and the message tables have always stored, and the checkpoint fingerprint stays the same.
    """

    architecture: str  # a key of ARCHITECTURES
    hidden: int
    huber_delta: float
    loss: str  # mae, mse or huber
    msg_dim: int
    reg_scope: str  # all_graphs or first_graph
    reg_weight: float
    regularizer: str  # none, l1, kl or hamiltonian
    pruning: Pruning | None = None  # the pruned variant's schedule; last, as the one field with a default

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; expected one of {sorted(ARCHITECTURES)}")
        if self.pruning and (self.architecture not in PRUNABLE or self.pruning.keep >= self.msg_dim):
            raise ValueError(
                f"pruning needs architecture {' or '.join(PRUNABLE)} and keep < msg_dim, got {self.architecture!r} "
                f"keeping {self.pruning.keep} of {self.msg_dim}"
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str | None = None) -> ModelSpec:
        """The spec from plain data (rule params or model.pt's record), ``pruning`` read as its own spec."""
        where = where or "model params"
        pruning = params.get("pruning")
        if pruning is not None:
            params = {**params, "pruning": Pruning.from_params(pruning, f"{where}: pruning")}
        return spec_from(cls, params, where)

    def record(self) -> dict[str, Any]:
        """The plain record model.pt, its checkpoint's fingerprint and the message tables store: every field, in
        alphabetical order, ``pruning`` only where set, so that the other variants' records stay as they were."""
        values = asdict(self)
        if self.pruning is None:
            del values["pruning"]
        return dict(sorted(values.items()))

    @property
    def message_kind(self) -> str:
        """What the variant's messages should encode: the pair force, or (FlatHGN) the pair potential."""
        return "energy" if self.architecture == "hgn" else "force"


def build_model(model: ModelSpec, dim: int) -> Network:
    """A network from a resolved model variant."""
    network = ARCHITECTURES[model.architecture](2 * dim + 2, model.msg_dim, dim, model.hidden)
    if model.pruning is not None:
        network.add_message_mask()
    return network

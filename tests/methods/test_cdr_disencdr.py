"""DisenCDR's fast paths equal the plain formulas they replace: the VBGE layer whose variational heads
share one sparse product and merge without a concatenation, the sparse product without a zero fill,
and the closed-form KL terms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from methods._cdr import sparse_mm
from methods.cdr_disencdr import _Graph, _kl, _Layer, _sigma


@pytest.fixture()
def graph() -> _Graph:
    """A random 30-user x 50-item graph; user 7 has no interaction (inactive)."""
    rng = np.random.default_rng(0)
    m = sp.random(30, 50, density=0.15, random_state=rng, format="csr")
    m = m.tolil()
    m[7, :] = 0
    return _Graph(m.tocsr(), torch.device("cpu"))


def _reference(layer: _Layer, x: torch.Tensor, g: _Graph, path: str) -> dict[str, torch.Tensor]:
    """The layer as written in the paper: every head's two-hop convolution ``LeakyReLU(A (X W) + b)``
    with dense adjacencies, then ``lin(cat([conv, x]))``."""
    uv, vu = g.uv.to_dense(), g.vu.to_dense()
    hop1, hop2 = (vu, uv) if path == "users" else (uv, vu)
    gc1, gc2, lin = (layer.u1, layer.u2, layer.u_lin) if path == "users" else (layer.i1, layer.i2, layer.i_lin)

    def conv(gc, a, inp):
        return F.leaky_relu(a @ (inp @ gc.weight) + gc.bias, gc.leaky)

    ho = conv(gc1, hop1, x)
    return {h: lin[h](torch.cat([conv(gc2[h], hop2, ho), x], 1)) for h in gc2}


@pytest.mark.parametrize("variational", [True, False])
@pytest.mark.parametrize("path", ["users", "items"])
def test_layer_equals_separate_heads(graph, variational, path):
    gen = torch.Generator().manual_seed(1)
    layer = _Layer(8, 0.1, variational, True, torch.device("cpu"), gen)
    n = graph.n_users if path == "users" else graph.n_items
    x = torch.randn(n, 8, generator=gen)
    got = getattr(layer, path)(x, graph)
    want = _reference(layer, x, graph, path)
    assert set(got) == ({"mean", "logstd"} if variational else {"out"})
    for h in want:
        torch.testing.assert_close(got[h], want[h], rtol=1e-5, atol=1e-6)


def test_layer_gradients_equal_separate_heads(graph):
    gen = torch.Generator().manual_seed(2)
    layer = _Layer(8, 0.1, True, True, torch.device("cpu"), gen)
    x = torch.randn(graph.n_users, 8, generator=gen, requires_grad=True)
    grads = []
    for fn in (lambda: layer.users(x, graph), lambda: _reference(layer, x, graph, "users")):
        layer.zero_grad(set_to_none=True)
        x.grad = None
        out = fn()
        (out["mean"].square().sum() + out["logstd"].sin().sum()).backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in layer.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 1
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_sparse_mm_equals_dense_and_keeps_inactive_rows_zero(graph):
    x = torch.randn(graph.n_items, 5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(sparse_mm(graph.uv, x), graph.uv.to_dense() @ x)
    full = graph.scatter(graph.to_users(x))
    assert full.shape == (graph.n_all, 5) and torch.all(full[7] == 0)


def test_all_active_graph_rows_and_scatter_are_identity():
    g = _Graph(sp.csr_matrix(np.eye(4, 6, dtype=np.float32)), torch.device("cpu"))
    x = torch.randn(4, 3)
    assert g.all_active and g.rows(x) is x and g.scatter(x) is x


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(4)
    mu1, ls1, mu2, ls2 = (torch.randn(6, 5, generator=gen) for _ in range(4))
    s1, s2 = _sigma(ls1), _sigma(ls2)
    normal = torch.distributions.Normal
    want_prior = torch.distributions.kl_divergence(normal(mu1, s1), normal(0.0, 1.0)).sum(1).mean()
    want_pair = torch.distributions.kl_divergence(normal(mu1, s1), normal(mu2, s2)).sum(1).mean()
    torch.testing.assert_close(_kl(mu1, s1), want_prior)
    torch.testing.assert_close(_kl(mu1, s1, mu2, s2), want_pair)
    torch.testing.assert_close(s1, 0.1 + 0.9 * F.softplus(ls1))

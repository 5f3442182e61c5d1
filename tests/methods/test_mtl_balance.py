"""Loss-balancing maths (methods/_mtl_balance.py) against the definitions in the papers, on hand-made
numbers."""

from __future__ import annotations

import math

import pytest
import torch

from methods import _torch as T
from methods._mtl_balance import LossBalancer, dwa_weights, gradnorm_loss, pcgrad, uncertainty_loss


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spinning on a shared machine."""
    with T.num_threads(1):
        yield


# ----------------------------------------------------------------------------- PCGrad (Yu et al. 2020)
def test_pcgrad_projects_conflicting_gradients():
    """g1 = (1, 0), g2 = (-1, 1) conflict (g1.g2 = -1):
    g1' = g1 - (g1.g2)/|g2|^2 g2 = (1, 0) + (-1, 1)/2 = (0.5, 0.5);
    g2' = g2 - (g2.g1)/|g1|^2 g1 = (-1, 1) + (1, 0) = (0, 1);  sum = (0.5, 1.5)."""
    g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    out = pcgrad(g, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, torch.tensor([0.5, 1.5]))
    # each projected gradient no longer conflicts with (is orthogonal to) the other's original one
    g1p, g2p = torch.tensor([0.5, 0.5]), torch.tensor([0.0, 1.0])
    assert torch.dot(g1p, g[1]) == 0 and torch.dot(g2p, g[0]) == 0


def test_pcgrad_leaves_agreeing_gradients_alone():
    g = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.0, 3.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(pcgrad(g, torch.Generator().manual_seed(1)), g.sum(0))


def test_pcgrad_in_the_balancer_only_touches_shared_parameters():
    """Shared w (2,) and task heads a, b: L1 = a * (w . e1), L2 = b * (w . (-1, 1)); with a = b = 1 the
    shared gradients are the hand-made pair above; the heads keep their ordinary gradients."""
    w = torch.nn.Parameter(torch.tensor([0.3, -0.2]))
    a, b = torch.nn.Parameter(torch.tensor(1.0)), torch.nn.Parameter(torch.tensor(1.0))
    l1 = a * (w @ torch.tensor([1.0, 0.0]))
    l2 = b * (w @ torch.tensor([-1.0, 1.0]))
    bal = LossBalancer("pcgrad", [False, False], generator=torch.Generator().manual_seed(0))
    bal.backward(torch.stack([l1, l2]), shared=[w], last_shared=[w])
    torch.testing.assert_close(w.grad, torch.tensor([0.5, 1.5]))
    torch.testing.assert_close(a.grad, torch.tensor(0.3))
    torch.testing.assert_close(b.grad, torch.tensor(-0.5))


# ----------------------------------------------------------------------------- uncertainty (Kendall et al. 2018)
def test_uncertainty_loss_formula_and_optimum():
    """sum_t c_t exp(-s_t) L_t + s_t/2 (c = 1 classification, 1/2 regression); its minimiser in s_t is
    log(2 c_t L_t): sigma^2 = L for a regression task (the Gaussian MLE of the variance)."""
    losses = torch.tensor([0.5, 2.0])
    regression = torch.tensor([False, True])
    s = torch.tensor([0.0, math.log(2.0)])
    expected = 1.0 * 0.5 + 0.0 + 0.5 * 0.5 * 2.0 + 0.5 * math.log(2.0)
    assert float(uncertainty_loss(losses, s, regression)) == pytest.approx(expected)

    bal = LossBalancer("uncertainty", [False, True])
    opt = torch.optim.SGD(bal.parameters(), lr=0.5)
    for _ in range(300):
        opt.zero_grad()
        bal.backward(losses.clone(), shared=[], last_shared=[])
        opt.step()
    torch.testing.assert_close(bal.log_vars.detach(), torch.log(torch.tensor([2 * 1.0 * 0.5, 2 * 0.5 * 2.0])), atol=1e-4, rtol=0)
    # the effective weight c exp(-s) is then 1 / (2 L): the noisier task is down-weighted
    torch.testing.assert_close(bal.weights(), torch.tensor([1.0, 0.25]), atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- DWA (Liu et al. 2019)
def test_dwa_weights_known_answer():
    """r = L(k-1)/L(k-2) = (0.5, 1.0); w = 2 softmax(r / 2) = 2 (e^.25, e^.5) / (e^.25 + e^.5)."""
    w = dwa_weights(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 1.0]), temperature=2.0)
    e1, e2 = math.exp(0.25), math.exp(0.5)
    torch.testing.assert_close(w, torch.tensor([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)]))
    assert float(w.sum()) == pytest.approx(2.0)


def test_dwa_balancer_starts_equal_then_favours_the_slow_task():
    bal = LossBalancer("dwa", [False, False, True])
    torch.testing.assert_close(bal.weights(), torch.ones(3))
    bal.end_epoch(torch.tensor([1.0, 1.0, 1.0]))
    torch.testing.assert_close(bal.weights(), torch.ones(3))  # epochs 1 and 2: w = 1
    bal.end_epoch(torch.tensor([0.5, 0.9, 1.0]))  # task 3 did not improve
    w = bal.weights()
    assert w[2] > w[1] > w[0] and float(w.sum()) == pytest.approx(3.0)


# ----------------------------------------------------------------------------- GradNorm (Chen et al. 2018)
def test_gradnorm_loss_known_answer():
    """Norms (1, 3), weights 1, equal loss ratios: G = (1, 3), target = mean(G) = 2 for both;
    L_grad = |1-2| + |3-2| = 2, dL/dw = (-1, +3): the task with the smaller gradient gains weight."""
    w = torch.ones(2, requires_grad=True)
    lg = gradnorm_loss(w, torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5]), torch.tensor([1.0, 1.0]), alpha=1.5)
    assert float(lg.detach()) == pytest.approx(2.0)
    (grad,) = torch.autograd.grad(lg, w)
    torch.testing.assert_close(grad, torch.tensor([-1.0, 3.0]))


def test_gradnorm_target_uses_inverse_training_rate():
    """L~ = (0.9, 0.3) -> r = (1.5, 0.5); G = (2, 2), target = 2 r^1.5 = (3.674.., 0.707..)."""
    w = torch.ones(2, requires_grad=True)
    lg = gradnorm_loss(w, torch.tensor([2.0, 2.0]), torch.tensor([0.9, 0.3]), torch.tensor([1.0, 1.0]), alpha=1.5)
    target = 2 * torch.tensor([1.5, 0.5]) ** 1.5
    assert float(lg.detach()) == pytest.approx(float((torch.tensor([2.0, 2.0]) - target).abs().sum()))
    (grad,) = torch.autograd.grad(lg, w)
    torch.testing.assert_close(grad, torch.tensor([-2.0, 2.0]))  # the slow task (1) gets more weight


def test_gradnorm_balancer_equalises_gradient_magnitudes():
    """Two tasks on one shared layer whose gradients differ 10x in scale: GradNorm shrinks the weight of
    the large-gradient task and keeps sum(w) = T after every step."""
    gen = torch.Generator().manual_seed(0)
    W = torch.nn.Parameter(torch.randn(3, 3, generator=gen))
    x = torch.randn(64, 3, generator=gen)
    y1, y2 = torch.randn(64, 3, generator=gen), torch.randn(64, 3, generator=gen)
    bal = LossBalancer("gradnorm", [True, True])
    opt = torch.optim.Adam([{"params": [W]}, {"params": list(bal.parameters())}], lr=0.01)
    for _ in range(100):
        h = x @ W
        losses = torch.stack([((h - y1) ** 2).mean(), 10.0 * ((h - y2) ** 2).mean()])
        opt.zero_grad()
        bal.backward(losses, shared=[W], last_shared=[W])
        opt.step()
        bal.after_step()
        assert float(bal.gradnorm_weights.detach().sum()) == pytest.approx(2.0, abs=1e-5)
    w = bal.weights()
    assert w[0] > 1.5 * w[1]


def test_equal_is_the_plain_sum_and_extra_terms_are_unweighted():
    p = torch.nn.Parameter(torch.tensor(2.0))
    bal = LossBalancer("equal", [False, True])
    total = bal.backward(torch.stack([p * 3, p**2]), shared=[p], last_shared=[p], extra=p * 0.5)
    assert float(total) == pytest.approx(6 + 4 + 1)
    assert float(p.grad) == pytest.approx(3 + 4 + 0.5)


def test_unknown_weighting_is_refused():
    with pytest.raises(ValueError, match="loss_weighting must be one of"):
        LossBalancer("magic", [False])

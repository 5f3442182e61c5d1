"""Loss balancing for multi-task training: the ``loss_weighting`` option of every neural MTL method.

Given per-task losses ``L_t`` (t = 1..T) of a batch, :class:`LossBalancer` fills the gradients of the
network (and of its own parameters) for one optimiser step:

* ``equal`` — ``sum_t L_t``.
* ``uncertainty`` — homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018), with
  learned ``s_t = log sigma_t^2``: ``sum_t c_t exp(-s_t) L_t + s_t / 2``, ``c_t = 1/2`` for a
  regression (Gaussian) task and ``1`` for a classification task. For a fixed loss the optimum is
  ``sigma_t^2 = 2 c_t L_t`` (= the MSE for regression).
* ``dwa`` — Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019): weights fixed within an epoch,
  ``w_t(k) = T exp(r_t(k-1)/tau) / sum_i exp(r_i(k-1)/tau)``, ``r_t(k-1) = L_t(k-1) / L_t(k-2)`` from
  epoch-mean losses, ``tau = 2``; ``w_t = 1`` for the first two epochs.
* ``gradnorm`` — GradNorm (Chen et al., ICML 2018), ``alpha = 1.5``: learned ``w_t`` (start 1); the
  network minimises ``sum_t w_t L_t``; the weights minimise
  ``L_grad = sum_t | G_t - mean_j(G_j) r_t^alpha |`` where ``G_t = ||grad_W w_t L_t||_2`` on the last
  shared layer ``W``, ``r_t = L~_t / mean_j L~_j``, ``L~_t = L_t / L_t(0)`` (first step) and the
  target is a constant; after each step the weights are renormalised to ``sum_t w_t = T``.
* ``pcgrad`` — gradient surgery (Yu et al., NeurIPS 2020): for the shared parameters, each task's
  gradient ``g_i`` is projected onto the normal plane of every other task's gradient ``g_j`` (in
  random order, drawn from the training generator) with which it conflicts (``g_i . g_j < 0``):
  ``g_i <- g_i - (g_i . g_j) / ||g_j||^2 g_j``; the projected gradients are summed. Task-specific
  parameters get their ordinary gradient.

Auxiliary terms that are not tasks (e.g. AITM's calibration loss) are added unweighted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

__all__ = [
    "BALANCERS",
    "LossBalancer",
    "dwa_weights",
    "gradnorm_loss",
    "pcgrad",
    "uncertainty_loss",
]

BALANCERS = ("equal", "uncertainty", "dwa", "gradnorm", "pcgrad")
Weighting = Literal["equal", "uncertainty", "dwa", "gradnorm", "pcgrad"]


# ----------------------------------------------------------------------------- the maths, pure
def uncertainty_loss(losses: torch.Tensor, log_vars: torch.Tensor, regression: torch.Tensor) -> torch.Tensor:
    """Kendall et al. (2018): ``sum_t c_t exp(-s_t) L_t + s_t / 2`` with ``c_t = 1/2`` (regression) or
    ``1`` (classification); ``regression`` is a bool tensor per task."""
    c = torch.where(regression, 0.5, 1.0).to(losses.dtype)
    return (c * torch.exp(-log_vars) * losses + 0.5 * log_vars).sum()


def dwa_weights(previous: torch.Tensor, before: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """Liu et al. (2019): ``T softmax(r / tau)`` with ``r = previous / before`` (epoch-mean losses of
    the two last epochs)."""
    ratio = previous / before.clamp_min(1e-12)
    return previous.numel() * torch.softmax(ratio / temperature, dim=0)


def gradnorm_loss(
    weights: torch.Tensor,
    grad_norms: torch.Tensor,
    losses: torch.Tensor,
    initial_losses: torch.Tensor,
    alpha: float = 1.5,
) -> torch.Tensor:
    """Chen et al. (2018), eq. 2: ``sum_t |G_t - mean(G) r_t^alpha|`` with ``G_t = w_t ||grad_W L_t||``
    (``grad_norms`` = the unweighted norms, constants) and the bracketed target held constant;
    differentiable in ``weights`` only."""
    g = weights * grad_norms.detach()
    rel = (losses.detach() / initial_losses.clamp_min(1e-12))
    r = rel / rel.mean().clamp_min(1e-12)
    target = (g.mean() * r.pow(alpha)).detach()
    return (g - target).abs().sum()


def pcgrad(grads: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Yu et al. (2020), Algorithm 1: ``grads`` is ``(T, P)`` (one flattened shared-parameter gradient
    per task); returns the sum of the projected gradients, ``(P,)``. Projections use the *original*
    gradients of the other tasks, visited in a random order per task."""
    n = grads.shape[0]
    out = grads.clone()
    sq = (grads * grads).sum(dim=1)
    for i in range(n):
        device = generator.device if generator is not None else "cpu"
        order = torch.randperm(n, generator=generator, device=device).tolist()
        g = out[i]
        for j in order:
            if j == i or sq[j] <= 0:
                continue
            dot = torch.dot(g, grads[j])
            if dot < 0:
                g = g - dot / sq[j] * grads[j]
        out[i] = g
    return out.sum(dim=0)


# ----------------------------------------------------------------------------- the training hook
class LossBalancer(torch.nn.Module):
    """Turns a batch's task losses into gradients (see the module docstring).

    Args:
        kind: one of :data:`BALANCERS`.
        regression: per task, whether it is a regression task (for ``uncertainty``).
        alpha: GradNorm's asymmetry (1.5, the paper's value for most experiments).
        temperature: DWA's ``tau`` (2, as in the paper).
        generator: random order of PCGrad's projections.

    Attributes:
        log_vars: ``s_t`` (``uncertainty``); gradnorm_weights: ``w_t`` (``gradnorm``); both are
        parameters to hand to the optimiser (without weight decay).
    """

    def __init__(
        self,
        kind: Weighting,
        regression: Sequence[bool],
        *,
        alpha: float = 1.5,
        temperature: float = 2.0,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        if kind not in BALANCERS:
            raise ValueError(f"loss_weighting must be one of {list(BALANCERS)}, got {kind!r}")
        self.kind = kind
        self.n_tasks = len(regression)
        self.alpha, self.temperature, self.generator = alpha, temperature, generator
        self.register_buffer("regression", torch.tensor(list(regression), dtype=torch.bool, device=device))
        self.register_buffer("static_weights", torch.ones(self.n_tasks, device=device))
        self.initial_losses: torch.Tensor | None = None
        self.history: list[torch.Tensor] = []
        if kind == "uncertainty":
            self.log_vars = torch.nn.Parameter(torch.zeros(self.n_tasks, device=device))
        if kind == "gradnorm":
            self.gradnorm_weights = torch.nn.Parameter(torch.ones(self.n_tasks, device=device))

    def weights(self) -> torch.Tensor:
        """The current effective task weights (for logging and tests)."""
        if self.kind == "uncertainty":
            c = torch.where(self.regression, 0.5, 1.0)
            return (c * torch.exp(-self.log_vars)).detach()
        if self.kind == "gradnorm":
            return self.gradnorm_weights.detach().clone()
        return self.static_weights.clone()

    def backward(
        self,
        losses: torch.Tensor,
        *,
        shared: Sequence[torch.Tensor],
        last_shared: Sequence[torch.Tensor],
        extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Fill ``.grad`` of every parameter for this batch; returns the (detached) objective.

        ``losses`` is ``(T,)``; ``shared`` are the parameters every task reaches (for ``pcgrad``);
        ``last_shared`` the last shared layer (for ``gradnorm``); ``extra`` an unweighted auxiliary
        loss. Without shared parameters ``pcgrad`` and ``gradnorm`` reduce to ``equal``.
        """
        kind = self.kind
        aux = extra if extra is not None else losses.new_zeros(())
        if kind == "gradnorm" and last_shared:
            if self.initial_losses is None:
                self.initial_losses = losses.detach().clone()
            norms = torch.stack([
                _flat_grad(losses[t], last_shared).norm() for t in range(self.n_tasks)
            ])
            lgrad = gradnorm_loss(self.gradnorm_weights, norms, losses, self.initial_losses, self.alpha)
            (wgrad,) = torch.autograd.grad(lgrad, [self.gradnorm_weights])
            total = (self.gradnorm_weights.detach() * losses).sum() + aux
            total.backward()
            self.gradnorm_weights.grad = wgrad
            return total.detach()
        if kind == "pcgrad" and shared:
            per_task = torch.stack([_flat_grad(losses[t], shared) for t in range(self.n_tasks)])
            aux_grad = _flat_grad(aux, shared) if extra is not None else None
            total = losses.sum() + aux
            total.backward()
            combined = pcgrad(per_task, self.generator)
            if aux_grad is not None:
                combined = combined + aux_grad
            _assign_flat(combined, shared)
            return total.detach()
        if kind == "uncertainty":
            total = uncertainty_loss(losses, self.log_vars, self.regression) + aux
        else:
            total = (self.static_weights * losses).sum() + aux
        total.backward()
        return total.detach()

    @torch.no_grad()
    def after_step(self) -> None:
        """GradNorm: renormalise the weights to sum to T (and keep them positive)."""
        if self.kind == "gradnorm":
            w = self.gradnorm_weights.clamp_(min=1e-3)
            w.mul_(self.n_tasks / w.sum())

    @torch.no_grad()
    def end_epoch(self, epoch_losses: torch.Tensor) -> None:
        """DWA: record the epoch-mean losses and set the next epoch's weights."""
        self.history = [*self.history[-1:], epoch_losses.detach().clone()]
        if self.kind == "dwa" and len(self.history) == 2:
            self.static_weights.copy_(dwa_weights(self.history[1], self.history[0], self.temperature))


def _flat_grad(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``d loss / d params`` flattened into one vector (zeros where ``loss`` does not reach)."""
    if not loss.requires_grad:
        return torch.cat([torch.zeros_like(p).reshape(-1) for p in params])
    grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
    return torch.cat([
        (g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params, strict=True)
    ])


def _assign_flat(flat: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n

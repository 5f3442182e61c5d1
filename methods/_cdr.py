"""Shared plumbing of the cross-domain methods (``methods/cdr_*.py``).

* :class:`CDRConfig` — the fields every CDR method shares (``embedding_size``, ``epochs``,
  ``learning_rate``, ``reg``, ``batch_size``, ``patience``, ``device`` ...);
* :class:`DomainPairs` — one domain's training pairs on the device, with vectorised BPR batches;
* :func:`joint_steps` — one epoch over several domains at once: every step takes a slice of each
  domain's shuffled pairs, so each domain's pairs are all visited once per epoch;
* :func:`holdout` / :func:`single_domain_validation` — early stopping for single-domain sub-models
  whose users are absent from the target validation part (cold-start splits);
* :func:`train_mf` — BPR matrix factorisation of one domain (the building block of ``target_only``,
  ``finetune``, ``emcdr``, ``ptupcdr``), early-stopped with :func:`methods._torch.train_epochs`;
* :class:`DotScorer` — ``score(users) = user_factors_[users] @ item_factors_.T`` for methods whose
  final model is a dot product over target items;
* :func:`sparse_tensor` / :func:`sparse_mm` / :class:`SpMM` — sparse adjacency on the device and
  ``A @ X`` without a zero-filled output, differentiable through the precomputed transpose, for the
  graph methods.

All randomness comes from the ``torch.Generator`` made from the ``rng`` passed to ``fit``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from bench.cdr import CDRData
from bench.interactions import Interactions
from methods import _torch as T

__all__ = [
    "CDRConfig",
    "DomainPairs",
    "DotScorer",
    "adam",
    "SpMM",
    "sparse_mm",
    "holdout",
    "joint_steps",
    "rows",
    "run_steps",
    "single_domain_validation",
    "sparse_tensor",
    "subsample_users",
    "validation_evaluator",
    "train_mf",
]


@dataclass(frozen=True, kw_only=True)
class CDRConfig(T.FactorConfig):
    """Fields shared by every cross-domain method: the torch fields of
    :class:`methods._torch.TorchConfig` and ``init_std`` (``reg`` = ``reg * 0.5 * sum of squares /
    batch`` on the batch's embeddings; ``batch_size`` = target-domain training pairs per gradient
    step, other domains take a proportional slice, see :func:`joint_steps`; ``epochs`` per training
    stage; validation = NDCG@10, full target ranking; ``num_threads`` defaults to 1: these models
    train in many small steps, which are latency-bound; on shared cores extra OpenMP threads mostly
    wait for each other, measured 5-8x slower epochs with 2 threads on a loaded 2-core machine; run
    cells in parallel instead) plus:

    Attributes:
        valid_users: early stopping ranks the target (or holdout) items for at most this many
            validation users, drawn once from the fit generator when there are more (0 = all);
            bounds the per-epoch validation cost on large user sets (e.g. the 24k-user source
            holdout of CDRIB pairs). Splits with fewer validation users are unaffected.
    """

    learning_rate: float = 5e-3
    batch_size: int = 2048
    patience: int = 5
    valid_users: int = 5000
    num_threads: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.valid_users < 0:
            raise ValueError(f"valid_users must be >= 0 (0 = all), got {self.valid_users}")


# ----------------------------------------------------------------------------- data on the device
class DomainPairs:
    """One domain's distinct training pairs as device tensors (users, items, sorted keys)."""

    def __init__(self, inter: Interactions, device: torch.device):
        self.users, self.items, self.keys = T.interaction_tensors(inter, device)
        self.n_items = inter.n_items
        self.n = int(self.users.numel())

    def batch(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(users, positives, one sampled negative each)`` of the pairs at ``idx``."""
        u = self.users[idx]
        return u, self.items[idx], T.sample_negatives(u, self.keys, self.n_items, gen)


def joint_steps(
    sizes: list[int], batch_size: int, gen: torch.Generator, device: torch.device, *, lead: int = 0
) -> list[list[torch.Tensor]]:
    """Index slices of one epoch over several domains: ``ceil(sizes[lead] / batch_size)`` steps, each
    with a slice of every domain's own random permutation (domain ``d`` gets about
    ``sizes[d] / n_steps`` pairs per step), so every pair of every domain is visited once."""
    n_steps = max(1, math.ceil(max(sizes[lead], 1) / batch_size))
    perms = [torch.randperm(n, generator=gen, device=device) for n in sizes]
    steps = []
    for s in range(n_steps):
        steps.append([p[(len(p) * s) // n_steps : (len(p) * (s + 1)) // n_steps] for p in perms])
    return steps


def run_steps(
    steps: list, loss_fn: Callable[..., torch.Tensor], opt: torch.optim.Optimizer
) -> float:
    """Run one epoch of ``loss_fn(*step)`` + Adam steps; returns the mean loss per step."""
    total = torch.zeros(())
    for step in steps:
        loss = loss_fn(*step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach().cpu()
    return float(total) / max(len(steps), 1)


def rows(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` through ``index_select``: on CPU its backward is several times faster than
    advanced indexing's (``index_put_`` with accumulation)."""
    return table.index_select(0, idx)


def adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters; many times faster than the
    per-tensor loop on CPU for embedding tables); plain Adam where fused is unavailable."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # pragma: no cover - device without fused Adam
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


#: the batch regulariser (one definition, :func:`methods._torch.l2`)
l2 = T.l2


# ----------------------------------------------------------------------------- validation
def holdout(
    inter: Interactions, rng: np.random.Generator, *, min_items: int = 3
) -> tuple[Interactions, Interactions]:
    """Split one random interaction off every user with at least ``min_items`` (vectorised):
    returns ``(rest, held)``, both in ``inter``'s index space."""
    m = inter.matrix.tocsr()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    cols = m.indices
    deg = np.diff(m.indptr)
    priority = rng.random(rows.size)
    order = np.lexsort((-priority, rows))
    first = np.r_[True, rows[order][1:] != rows[order][:-1]] if rows.size else np.zeros(0, bool)
    chosen = order[first]
    chosen = chosen[deg[rows[chosen]] >= min_items]
    mask = np.zeros(rows.size, dtype=bool)
    mask[chosen] = True
    shape = m.shape

    def build(sel: np.ndarray) -> Interactions:
        mat = sp.csr_matrix((np.ones(int(sel.sum()), np.float32), (rows[sel], cols[sel])), shape=shape)
        mat.sort_indices()
        import pandas as pd

        return Interactions(matrix=mat, frame=pd.DataFrame({"user": rows[sel], "item": cols[sel]}))

    return build(~mask), build(mask)


def single_domain_validation(
    train: Interactions, valid: Interactions | None, rng: np.random.Generator
) -> tuple[Interactions, Interactions | None]:
    """Early-stopping data of a single-domain sub-model: the given ``valid`` restricted to users who
    have training rows in this domain; when none has (cold-start splits: every valid user is cold),
    a holdout of one interaction per user carved from ``train`` (returns the reduced train)."""
    if valid is not None and valid.nnz:
        has = np.diff(train.matrix.indptr) > 0
        keep = sp.diags(has.astype(np.float32)) @ valid.matrix
        keep = sp.csr_matrix(keep)
        keep.eliminate_zeros()
        if keep.nnz:
            return train, Interactions(matrix=keep, frame=valid.frame)
    return holdout(train, rng)


def validation_evaluator(
    build_score_fn: Callable[[], T.ScoreFn], *, train: Interactions, valid: Interactions | None,
    cfg: CDRConfig, rng: np.random.Generator, method: str,
) -> Callable[[], float] | None:
    """:func:`methods._torch.validation_evaluator` on at most ``cfg.valid_users`` validation users
    (:func:`subsample_users`, drawn once from ``rng``): the early stopping of every CDR method."""
    return T.validation_evaluator(
        build_score_fn, train=train, valid=subsample_users(valid, cfg.valid_users, rng), method=method
    )


def subsample_users(valid: Interactions | None, n: int, rng: np.random.Generator) -> Interactions | None:
    """``valid`` restricted to ``n`` of its users drawn once from ``rng`` (all when ``n`` is 0 or at
    least the number of validation users): a cheaper early-stopping signal for methods whose full
    ranking is an MLP per (user, item) pair."""
    if valid is None or n <= 0:
        return valid
    users = np.flatnonzero(np.diff(valid.matrix.indptr) > 0)
    if users.size <= n:
        return valid
    keep = np.zeros(valid.n_users, dtype=np.float32)
    keep[rng.choice(users, size=n, replace=False)] = 1.0
    m = sp.csr_matrix(sp.diags(keep) @ valid.matrix)
    m.eliminate_zeros()
    return Interactions(matrix=m, frame=valid.frame)


# ----------------------------------------------------------------------------- matrix factorisation
#: user and item embedding tables (one definition, :class:`methods._torch.Factors`)
Factors = T.Factors


def train_mf(
    train: Interactions,
    valid: Interactions | None,
    cfg: CDRConfig,
    gen: torch.Generator,
    device: torch.device,
    *,
    method: str,
    rng: np.random.Generator,
    init_user: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray, T.TrainingLog]:
    """BPR matrix factorisation of one domain (Rendle et al., 2009), Adam, early stopping on
    ``valid`` (NDCG@10 full ranking). ``init_user`` replaces the random user initialisation
    (fine-tuning). Returns ``(user_factors, item_factors, log)`` as float32 numpy arrays."""
    pairs = DomainPairs(train, device)
    model = Factors(train.n_users, train.n_items, cfg.embedding_size, cfg.init_std, device, gen)
    if init_user is not None:
        with torch.no_grad():
            model.user.copy_(init_user)
    opt = adam(model.parameters(), cfg.learning_rate)

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        u, i, j = pairs.batch(idx, gen)
        pu, qi, qj = rows(model.user, u), rows(model.item, i), rows(model.item, j)
        return T.bpr_mf_loss(pu, qi, qj, cfg.reg)

    def run_epoch(epoch: int) -> float:
        if pairs.n == 0:
            return 0.0
        return run_steps([s for s in joint_steps([pairs.n], cfg.batch_size, gen, device)], loss_fn, opt)

    def build_score_fn() -> T.ScoreFn:
        return lambda u: T.dot_scores(model.user.detach(), model.item.detach(), u, device)

    evaluate = validation_evaluator(
        build_score_fn, train=train, valid=valid, cfg=cfg, rng=rng, method=method
    )
    log = T.train_epochs(
        model, run_epoch, cfg, evaluate=evaluate, method=method,
    )
    return (
        model.user.detach().cpu().numpy().copy(),
        model.item.detach().cpu().numpy().copy(),
        log,
    )


def pretrain_domains(
    data: CDRData, valid: Interactions | None, cfg: CDRConfig, rng: np.random.Generator,
    gen: torch.Generator, device: torch.device, *, method: str,
) -> dict[str, np.ndarray | T.TrainingLog]:
    """Independent BPR-MF of each domain (EMCDR / PTUPCDR step 1): the source early-stopped on a
    one-item-per-user holdout of the source, the target on :func:`single_domain_validation`."""
    s_train, s_valid = holdout(data.source, rng)
    us, vs, log_s = train_mf(s_train, s_valid, cfg, gen, device, method=f"{method} (source MF)", rng=rng)
    t_train, t_valid = single_domain_validation(data.target, valid, rng)
    ut, vt, log_t = train_mf(t_train, t_valid, cfg, gen, device, method=f"{method} (target MF)", rng=rng)
    return {"user_s": us, "item_s": vs, "user_t": ut, "item_t": vt, "log_s": log_s, "log_t": log_t}


# ----------------------------------------------------------------------------- scoring
#: ``score(users) = user_factors_[users] @ item_factors_.T`` (one definition, :class:`methods._torch.DotScorer`)
DotScorer = T.DotScorer


def has_rows(inter: Interactions) -> np.ndarray:
    """Boolean per user: has at least one interaction."""
    return np.diff(inter.matrix.indptr) > 0


# ----------------------------------------------------------------------------- sparse graphs
def sparse_tensor(m: sp.spmatrix, device: torch.device) -> torch.Tensor:
    """A scipy matrix as a torch sparse CSR tensor (float32) on ``device``."""
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    with warnings.catch_warnings():  # "sparse CSR support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int64)),
            torch.from_numpy(m.indices.astype(np.int64)),
            torch.from_numpy(m.data.astype(np.float32)),
            size=m.shape,
            device=device,
            check_invariants=False,
        )


def sparse_mm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ X`` for a sparse CSR ``A`` into a fresh tensor: ``torch.sparse.mm`` first fills a zero
    matrix and copies it into the result, which on CPU costs as much as the product itself."""
    out = x.new_empty((a.shape[0], x.shape[1]))
    return torch.addmm(out, a, x, beta=0, out=out)


class SpMM(torch.autograd.Function):
    """``A @ X`` for a constant sparse ``A`` with its transpose ``At`` precomputed (backward
    ``At @ G``), avoiding torch's transposition of ``A`` on every step."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, a: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        ctx.at = at
        return sparse_mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return sparse_mm(ctx.at, grad.contiguous()), None, None


def row_normalized(m: sp.spmatrix) -> sp.csr_matrix:
    """``D^-1 M`` (rows summing to 1; empty rows stay zero), float32 CSR."""
    m = sp.csr_matrix(m, dtype=np.float32, copy=True)
    m.data[:] = 1.0
    deg = np.asarray(m.sum(axis=1)).ravel()
    inv = np.zeros_like(deg)
    np.divide(1.0, deg, out=inv, where=deg > 0)
    return (sp.diags(inv.astype(np.float32)) @ m).tocsr()

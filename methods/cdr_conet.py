"""``conet``: Collaborative Cross Networks (Hu, Zhang & Yang, CIKM 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from bench.cdr import CDRData
from bench.interactions import Interactions
from bench.methods import Categorical, check_users, register
from methods import _torch as T
from methods._cdr import (
    CDRConfig,
    DomainPairs,
    SpMM,
    adam,
    joint_steps,
    l2,
    row_normalized,
    rows,
    run_steps,
    sparse_tensor,
    validation_evaluator,
)

__all__ = ["CoNet", "CoNetConfig"]


@dataclass(frozen=True, kw_only=True)
class CoNetConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`):
    layers: widths of each tower's hidden layers (the cross units connect every pair of layers).
    score_batch_pairs: (user, target item) pairs per tile when scoring all target items: whole
        rows of ``score_batch_pairs // n_target_items`` users (at least one; a larger catalogue is
        cut into item slices), so scoring needs about ``score_batch_pairs x 2 sum(layers)`` floats
        of activations whatever the catalogue size. Only speed depends on it: small tiles stay in
        the CPU cache (measured on one thread: 8-16k pairs about 1.4x faster than 1M); raise it on
        a GPU, where each tile costs a few kernel launches.
    valid_users: early stopping ranks the target items for at most this many validation users,
        drawn once from the fit generator (0 = all). Full ranking costs an MLP pass per (user, item)
        pair here (about 4 * sum of consecutive layer-width products per pair), so validating every
        user every epoch would dominate training; the TEST evaluation always ranks for all users.
    """

    embedding_size: int = 32
    layers: tuple[int, ...] = (32, 16, 8)
    score_batch_pairs: int = 16384
    valid_users: int = 1000

    search_space: ClassVar = {
        **CDRConfig.search_space,
        "layers": Categorical(((32, 16, 8), (64, 32, 16))),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.layers or any(w < 1 for w in self.layers):
            raise ValueError(f"layers must list positive widths, got {list(self.layers)}")
        if self.score_batch_pairs < 1:
            raise ValueError(f"score_batch_pairs must be >= 1, got {self.score_batch_pairs}")


def _linear(n_in: int, n_out: int, device, gen, bias: bool = True) -> torch.nn.Linear:
    layer = torch.nn.Linear(n_in, n_out, bias=bias, device=device)
    bound = 1.0 / n_in**0.5
    torch.nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
    if bias:
        torch.nn.init.uniform_(layer.bias, -bound, bound, generator=gen)
    return layer


class _CoNet(torch.nn.Module):
    """Two towers (source ``s``, target ``t``) over ``[user ; item]``; between consecutive layers a
    cross unit ``H_l`` shared by both directions: ``a_d^(l+1) = relu(W_d^l a_d^l + H_l a_other^l)``."""

    def __init__(self, n_users: int, n_s: int, n_t: int, dim: int, widths: tuple[int, ...], std: float, device, gen):
        super().__init__()
        self.user = torch.nn.Parameter(torch.empty(n_users, dim, device=device))
        self.item_s = torch.nn.Parameter(torch.empty(n_s + 1, dim, device=device))  # last row: no item
        self.item_t = torch.nn.Parameter(torch.empty(n_t + 1, dim, device=device))
        for p in (self.user, self.item_s, self.item_t):
            torch.nn.init.normal_(p, std=std, generator=gen)
        sizes = (2 * dim, *widths)
        self.w_s = torch.nn.ModuleList(_linear(a, b, device, gen) for a, b in zip(sizes[:-1], sizes[1:]))
        self.w_t = torch.nn.ModuleList(_linear(a, b, device, gen) for a, b in zip(sizes[:-1], sizes[1:]))
        self.h = torch.nn.ModuleList(_linear(a, b, device, gen, bias=False) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out_s = _linear(widths[-1], 1, device, gen)
        self.out_t = _linear(widths[-1], 1, device, gen)

    def forward(self, xs: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for ws, wt, h in zip(self.w_s, self.w_t, self.h):
            xs, xt = F.relu(ws(xs) + h(xt)), F.relu(wt(xt) + h(xs))
        return self.out_s(xs).squeeze(-1), self.out_t(xt).squeeze(-1)


@register("conet", config=CoNetConfig, scenarios=("cdr_warm", "cdr_cold"))
class CoNet:
    """CoNet (Hu et al., 2018): two MLP towers with cross-connection units, trained jointly.

    a_d^(l+1) = relu(W_d^l a_d^l + H^l a_(other)^l),  y_d = sigma(h_d . a_d^L);
    min sum_d sum_(u,i) BCE(y_d(u,i), 1) + BCE(y_d(u,j), 0) + reg/2 |embeddings_batch|^2

    Inputs are ``[e_u ; e_i]`` with a user embedding shared by both domains. Deviation (documented):
    each training instance is ONE interaction of one domain (every source and every target pair is
    visited once per epoch, with one sampled negative of that domain); the other tower's input is
    ``[e_u ; mean of the user's item embeddings in the other domain]`` (a learned "no item" embedding
    when the user has none) and only the instance's own domain contributes to the loss. Scoring uses
    exactly that construction, so cold-start users (source only) are scored through ``e_u`` and their
    source summary. Scores are logits over all target items (the per-pair MLP in tiles, see
    :class:`_PairScorer`).

    Attributes: ``model_`` (the torch module, on CPU after fit), ``source_summary_`` (each user's
    source summary ``s_u``, ``n_users x embedding_size``, torch), ``training_log_``.
    """

    def __init__(self, config: CoNetConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> CoNet:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n, n_s, n_t = data.n_users, data.n_source_items, data.n_target_items
        with T.num_threads(cfg.num_threads):
            summ_s = row_normalized(data.source.matrix)
            summ_t = row_normalized(data.target.matrix)
            r_s, r_st = sparse_tensor(summ_s, device), sparse_tensor(summ_s.T.tocsr(), device)
            r_t, r_tt = sparse_tensor(summ_t, device), sparse_tensor(summ_t.T.tocsr(), device)
            has_s = torch.from_numpy(np.diff(summ_s.indptr) > 0).to(device).unsqueeze(1)
            has_t = torch.from_numpy(np.diff(summ_t.indptr) > 0).to(device).unsqueeze(1)
            src, tgt = DomainPairs(data.source, device), DomainPairs(data.target, device)
            model = _CoNet(n, n_s, n_t, cfg.embedding_size, cfg.layers, cfg.init_std, device, gen)
            opt = adam(model.parameters(), cfg.learning_rate)

            def summaries() -> tuple[torch.Tensor, torch.Tensor]:
                ms = SpMM.apply(model.item_s[:n_s], r_s, r_st)
                mt = SpMM.apply(model.item_t[:n_t], r_t, r_tt)
                ms = torch.where(has_s, ms, model.item_s[n_s].expand_as(ms))
                mt = torch.where(has_t, mt, model.item_t[n_t].expand_as(mt))
                return ms, mt

            def instance_loss(pairs: DomainPairs, idx: torch.Tensor, own: str, ms, mt) -> torch.Tensor:
                if idx.numel() == 0:
                    return torch.zeros((), device=device)
                u, i, j = pairs.batch(idx, gen)
                eu = rows(model.user, u)
                table = model.item_s if own == "s" else model.item_t
                other = rows(mt if own == "s" else ms, u)
                items = rows(table, torch.cat([i, j]))
                eu2, other2 = eu.repeat(2, 1), other.repeat(2, 1)
                own_x = torch.cat([eu2, items], 1)
                other_x = torch.cat([eu2, other2], 1)
                ys, yt = model(own_x, other_x) if own == "s" else model(other_x, own_x)
                logit = ys if own == "s" else yt
                labels = torch.cat([torch.ones_like(i, dtype=logit.dtype), torch.zeros_like(j, dtype=logit.dtype)])
                return F.binary_cross_entropy_with_logits(logit, labels) + l2(cfg.reg, idx.numel(), eu, items)

            def loss_fn(idx_t: torch.Tensor, idx_s: torch.Tensor) -> torch.Tensor:
                ms, mt = summaries()
                return instance_loss(tgt, idx_t, "t", ms, mt) + instance_loss(src, idx_s, "s", ms, mt)

            def run_epoch(epoch: int) -> float:
                return run_steps(joint_steps([tgt.n, src.n], cfg.batch_size, gen, device), loss_fn, opt)

            def build_score_fn() -> T.ScoreFn:
                ms, _ = summaries()
                ms = ms.detach()
                scorer = _PairScorer(model, ms, n_t)
                return lambda u: _score(scorer, u, cfg.score_batch_pairs, device)

            evaluate = validation_evaluator(
                build_score_fn, train=data.target, valid=valid, cfg=cfg, rng=rng, method="conet"
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch, cfg, evaluate=evaluate, method="conet",
            )
            with torch.no_grad():
                ms, _ = summaries()
        self.model_ = model.cpu()
        self.source_summary_ = ms.cpu()
        self.n_target_items_ = n_t
        return self

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.model_.user.shape[0], "conet")
        device = T.resolve_device(self.config.device)
        model, ms = self.model_.to(device), self.source_summary_.to(device)
        with T.num_threads(self.config.num_threads), torch.no_grad():
            scorer = _PairScorer(model, ms, self.n_target_items_)
            return _score(scorer, users, self.config.score_batch_pairs, device)


class _PairScorer:
    """Target logits of the training forward ``model(xs, xt)[1]`` for many (user, item) pairs.

    The towers' activations sit side by side in one ``(pairs, 2 w)`` matrix ``X = [a_s, a_t]``, so
    each layer after the first is ONE GEMM with the block weight ``[[W_s, H], [H, W_t]]`` (``H``:
    the shared cross unit, no bias) plus ``[b_s ; b_t]`` and an in-place relu, instead of four
    small matmuls and adds per layer. The first layer is affine in ``[e_u ; s_u]`` and
    ``[e_u ; e_j]``, so its pre-activation is a per-user row plus a per-item row: item rows are
    computed once per scorer, user rows once per :func:`_score` call, and each pair costs one add
    and relu. The last layer computes only the target half, all that ``out_t`` reads, as ``W X^T``
    (a GEMM with a narrow output runs about 3x faster in that orientation on one CPU thread).
    Equal to the training forward up to float rounding (summation order)."""

    def __init__(self, model: _CoNet, ms: torch.Tensor, n_t: int):
        with torch.no_grad():
            self.model, self.ms = model, ms
            self.target_only = len(model.w_s) == 1  # the first layer is also the last one
            self.items = self._item_rows(n_t)
            self.hidden, self.last = _fused_layers(model)
            self.out_w, self.out_b = model.out_t.weight[0], model.out_t.bias

    def _item_rows(self, n_t: int) -> torch.Tensor:
        """``(n_t, 2 w0)``: the item part of the first layer, ``[H^0 e_j ; W_t^0 e_j]``."""
        m = self.model
        dim = m.user.shape[1]
        w = torch.cat([m.h[0].weight[:, dim:], m.w_t[0].weight[:, dim:]])
        rows = m.item_t[:n_t] @ w.T
        return rows[:, rows.shape[1] // 2 :].contiguous() if self.target_only else rows

    def user_rows(self, users: torch.Tensor) -> torch.Tensor:
        """``(len(users), 2 w0)``: the user part of the first layer with both towers' biases,
        ``[W_s^0 [e_u ; s_u] + b_s + H^0 e_u ; W_t^0 e_u + b_t + H^0 [e_u ; s_u]]``."""
        m = self.model
        dim = m.user.shape[1]
        ws0, wt0, h0 = m.w_s[0], m.w_t[0], m.h[0]
        eu, su = m.user.index_select(0, users), self.ms.index_select(0, users)
        xs = torch.cat([eu, su], 1)
        user_t = eu @ wt0.weight[:, :dim].T + wt0.bias + h0(xs)
        if self.target_only:
            return user_t
        return torch.cat([ws0(xs) + eu @ h0.weight[:, :dim].T, user_t], 1)

    def widths(self) -> list[int]:
        """Floats per pair of each activation buffer a tile needs (first layer, then the rest)."""
        rest = [w.shape[1] for w, _ in self.hidden] + ([self.last[0].shape[0]] if self.last else [])
        return [self.items.shape[1], *rest]

    def logits(
        self,
        user_rows: torch.Tensor,
        item_rows: torch.Tensor,
        bufs: list[torch.Tensor],
        dest: torch.Tensor,
    ) -> None:
        """Writes the logits of every (user row, item row) pair into the contiguous ``dest``
        (``len(user_rows) x len(item_rows)``), with activations in the flat ``bufs`` (one per
        entry of :meth:`widths`, each at least pairs x width long), so a tile allocates nothing."""
        nu, ni = user_rows.shape[0], item_rows.shape[0]
        p = nu * ni
        x = bufs[0][: p * item_rows.shape[1]].view(nu, ni, -1)
        torch.add(user_rows.unsqueeze(1), item_rows.unsqueeze(0), out=x)
        x = x.relu_().view(p, -1)
        for (w, b), buf in zip(self.hidden, bufs[1:]):
            x = torch.addmm(b, x, w, out=buf[: p * w.shape[1]].view(p, -1)).relu_()
        if self.last is not None:
            w, b = self.last
            x = torch.addmm(b, w, x.T, out=bufs[-1][: p * w.shape[0]].view(-1, p)).relu_().T
        torch.mv(x, self.out_w, out=dest.view(p)).add_(self.out_b)


def _fused_layers(model: _CoNet) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], tuple | None]:
    """The layers after the first, acting on ``X = [a_s, a_t]``: ``(weight^T, bias)`` of each
    hidden one (block ``[[W_s, H], [H, W_t]]``, bias ``[b_s ; b_t]``), and ``(weight, bias column)``
    of the last one's target half (``[H, W_t]``, ``b_t``), ``None`` when there is one layer only."""
    deeper = list(zip(model.w_s, model.w_t, model.h))[1:]
    hidden = []
    for ws, wt, h in deeper[:-1]:
        top, bottom = torch.cat([ws.weight, h.weight], 1), torch.cat([h.weight, wt.weight], 1)
        block = torch.cat([top, bottom])
        hidden.append((block.T.contiguous(), torch.cat([ws.bias, wt.bias])))
    if not deeper:
        return hidden, None
    _, wt, h = deeper[-1]
    return hidden, (torch.cat([h.weight, wt.weight], 1), wt.bias.unsqueeze(1))


def _score(scorer: _PairScorer, users: np.ndarray, n_pairs: int, device) -> np.ndarray:
    """Target logits ``(len(users), n_t)`` of ``users`` against all target items, in tiles of at
    most ``n_pairs`` (user, item) pairs: whole rows of ``n_pairs // n_t`` users, or one user's row
    in slices of ``n_pairs`` items when the catalogue is larger; so the working memory is
    ``n_pairs x sum(widths)`` floats whatever the catalogue size, and each tile's logits land
    directly in a contiguous block of the result."""
    users = torch.as_tensor(np.asarray(users, dtype=np.int64), device=device)
    n_t = scorer.items.shape[0]
    out = torch.empty((users.numel(), n_t), dtype=torch.float32, device=device)
    n_items = max(1, min(n_t, n_pairs))
    n_users = max(1, n_pairs // n_items)  # 1 whenever n_items < n_t: tiles stay contiguous
    pairs = min(n_users, users.numel()) * n_items
    with torch.no_grad():
        bufs = [torch.empty(pairs * w, device=device) for w in scorer.widths()]
        all_rows = scorer.user_rows(users)
        for u0 in range(0, users.numel(), n_users):
            rows = all_rows[u0 : u0 + n_users]
            for i0 in range(0, n_t, n_items):
                items = scorer.items[i0 : i0 + n_items]
                dest = out[u0 : u0 + rows.shape[0], i0 : i0 + items.shape[0]]
                scorer.logits(rows, items, bufs, dest)
    return out.cpu().numpy()

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
    subsample_users,
)

__all__ = ["CoNet", "CoNetConfig"]


@dataclass(frozen=True, kw_only=True)
class CoNetConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`):
    layers: widths of each tower's hidden layers (the cross units connect every pair of layers).
    score_batch_users: users per chunk when scoring all target items (bounds memory at
        ``score_batch_users x n_target_items x layers[0]`` floats).
    valid_users: early stopping ranks the target items for at most this many validation users,
        drawn once from the fit generator (0 = all). Full ranking costs an MLP pass per (user, item)
        pair here (about 4 * sum of consecutive layer-width products per pair), so validating every
        user every epoch would dominate training; the TEST evaluation always ranks for all users.
    """

    embedding_size: int = 32
    layers: tuple[int, ...] = (32, 16, 8)
    score_batch_users: int = 64
    valid_users: int = 1000

    search_space: ClassVar = {
        **CDRConfig.search_space,
        "layers": Categorical(((32, 16, 8), (64, 32, 16))),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.layers or any(w < 1 for w in self.layers):
            raise ValueError(f"layers must list positive widths, got {list(self.layers)}")
        if self.score_batch_users < 1:
            raise ValueError(f"score_batch_users must be >= 1, got {self.score_batch_users}")


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
    source summary. Scores are logits over all target items (per-pair MLP, batched over users).

    Attributes: ``model_`` (the torch module, on CPU after fit), ``source_summary_`` (row-normalised
    user x source-item matrix, scipy), ``training_log_``.
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
                return lambda u: _score(model, ms, u, n_t, cfg.score_batch_users, device)

            evaluate = T.validation_evaluator(
                build_score_fn, train=data.target, valid=subsample_users(valid, cfg.valid_users, rng), method="conet"
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch, epochs=cfg.epochs, evaluate=evaluate, eval_every=cfg.eval_every,
                patience=cfg.patience, method="conet",
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
            return _score(model, ms, users, self.n_target_items_, self.config.score_batch_users, device)


def _score(model: _CoNet, ms: torch.Tensor, users: np.ndarray, n_t: int, chunk: int, device) -> np.ndarray:
    """Target logits for ``users`` against all target items, ``chunk`` users at a time.

    Exactly the training forward with ``xs = [e_u ; source summary]`` and ``xt = [e_u ; e_j]``, but the
    first layer (of both towers and of the cross unit) is split into a per-user and a per-item part,
    so only the deeper layers run per (user, item) pair."""
    users = torch.as_tensor(np.asarray(users, dtype=np.int64), device=device)
    dim = model.user.shape[1]
    ws0, wt0, h0 = model.w_s[0], model.w_t[0], model.h[0]
    deeper = list(zip(list(model.w_s)[1:], list(model.w_t)[1:], list(model.h)[1:]))
    out = []
    with torch.no_grad():
        items = model.item_t[:n_t]
        item_t = items @ wt0.weight[:, dim:].T  # (n_t, h1): W_t^0 item part
        item_h = items @ h0.weight[:, dim:].T  # (n_t, h1): H^0 item part (cross unit fed by xt)
        for c in users.split(chunk):
            eu, su = model.user.index_select(0, c), ms.index_select(0, c)
            xs = torch.cat([eu, su], 1)
            user_s = ws0(xs) + eu @ h0.weight[:, :dim].T
            user_t = eu @ wt0.weight[:, :dim].T + wt0.bias + h0(xs)
            a_s = F.relu(user_s.unsqueeze(1) + item_h.unsqueeze(0))
            a_t = F.relu(user_t.unsqueeze(1) + item_t.unsqueeze(0))
            for ws, wt, h in deeper:
                a_s, a_t = F.relu(ws(a_s) + h(a_t)), F.relu(wt(a_t) + h(a_s))
            out.append(model.out_t(a_t).squeeze(-1).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, n_t), dtype=np.float32)

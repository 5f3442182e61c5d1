"""Embedding-and-mapping cold-start methods: ``emcdr`` (Man et al., IJCAI 2017) and ``ptupcdr``
(Zhu et al., WSDM 2022).

Both first fit one BPR-MF per domain (:func:`methods._cdr.pretrain_domains`), then learn a bridge
from a user's source representation to the target user space on the overlapping users, and score a
cold-start user ``u`` by ``bridge(u) . q_j`` with the frozen target item factors ``q_j``. Users with
target training interactions keep their own target factors; users with neither domain get zeros
(constant scores). The bridge is early-stopped on the target validation part (in cold-start splits:
the validation cold users, scored through the bridge).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from bench.cdr import CDRData
from bench.interactions import Interactions
from bench.methods import Categorical, FloatRange, IntRange, register
from methods import _torch as T
from methods._cdr import (
    CDRConfig,
    DomainPairs,
    DotScorer,
    adam,
    has_rows,
    joint_steps,
    l2,
    pretrain_domains,
    rows,
    run_steps,
    validation_evaluator,
)

__all__ = ["EMCDR", "EMCDRConfig", "PTUPCDR", "PTUPCDRConfig"]


def _combine(data: CDRData, own: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    """Own target factors where the user has target training rows, the mapped ones for users with
    only source rows, zeros otherwise."""
    out = np.zeros_like(own)
    has_t, has_s = has_rows(data.target), has_rows(data.source)
    out[has_t] = own[has_t]
    cold = has_s & ~has_t
    out[cold] = mapped[cold]
    return out


# ----------------------------------------------------------------------------- emcdr
@dataclass(frozen=True, kw_only=True)
class EMCDRConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`, used by both MF stages):
    hidden_size: width of the mapping MLP's hidden layer (``0`` = ``2 * embedding_size``).
    map_learning_rate: Adam step size of the mapping.
    map_batch_size: overlapping users per mapping step.
    """

    hidden_size: int = 0
    map_learning_rate: float = 1e-2
    map_batch_size: int = 32

    search_space: ClassVar = {
        **CDRConfig.search_space,
        "hidden_size": Categorical((0, 64, 256)),
        "map_learning_rate": FloatRange(1e-4, 1e-2, log=True),
    }


class _MLPMap(torch.nn.Module):
    def __init__(self, dim: int, hidden: int, device, gen):
        super().__init__()
        self.l1 = torch.nn.Linear(dim, hidden, device=device)
        self.l2 = torch.nn.Linear(hidden, dim, device=device)
        for layer in (self.l1, self.l2):  # torch's default init, drawn from the generator
            bound = 1.0 / layer.in_features**0.5
            torch.nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
            torch.nn.init.uniform_(layer.bias, -bound, bound, generator=gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(torch.tanh(self.l1(x)))


@register("emcdr", config=EMCDRConfig, scenarios=("cdr_cold",))
class EMCDR(DotScorer):
    """EMCDR (Man et al., 2017): MF per domain + MLP mapping of overlapping users' factors.

    min_f sum_(u in overlap) |f(p_u^s) - p_u^t|^2;  score(u, j) = f(p_u^s) . q_j^t for cold users

    (MLP-based mapping with one tanh hidden layer, as in the paper's EMCDR-MLP variant). Attributes:
    ``user_factors_`` (own target factors, or mapped for source-only users), ``item_factors_``,
    ``mapping_`` (the MLP), ``training_log_`` (mapping), ``pretrain_logs_``.
    """

    #: several networks trained in sequence (epoch counts restart): the tune stage does not prune it
    #: (no epoch of one stage is comparable with another trial's; see bench.tune.FirstStageReporter)
    prunable = False

    def __init__(self, config: EMCDRConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> EMCDR:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        with T.num_threads(cfg.num_threads):
            pre = pretrain_domains(data, valid, cfg, rng, gen, device, method="emcdr")
            us = torch.from_numpy(pre["user_s"]).to(device)
            ut = torch.from_numpy(pre["user_t"]).to(device)
            vt = torch.from_numpy(pre["item_t"]).to(device)
            overlap = torch.from_numpy(data.overlap_users).to(device)
            hidden = cfg.hidden_size or 2 * cfg.embedding_size
            mapping = _MLPMap(cfg.embedding_size, hidden, device, gen)
            opt = adam(mapping.parameters(), cfg.map_learning_rate)

            def loss_fn(idx: torch.Tensor) -> torch.Tensor:
                u = overlap[idx]
                return (mapping(us[u]) - ut[u]).square().sum(1).mean()

            def run_epoch(epoch: int) -> float:
                if overlap.numel() == 0:
                    return 0.0
                return run_steps(joint_steps([overlap.numel()], cfg.map_batch_size, gen, device), loss_fn, opt)

            def build_score_fn() -> T.ScoreFn:
                mapped = mapping(us).detach().cpu().numpy()
                users = torch.from_numpy(_combine(data, pre["user_t"], mapped)).to(device)
                return lambda u: T.dot_scores(users, vt, u, device)

            evaluate = validation_evaluator(build_score_fn, train=data.target,
                valid=valid, cfg=cfg, rng=rng, method="emcdr")
            self.training_log_ = T.train_epochs(
                mapping, run_epoch, cfg, evaluate=evaluate, method="emcdr",
            )
            with torch.no_grad():
                mapped = mapping(us).cpu().numpy()
        self.mapping_ = mapping.cpu()
        self.user_factors_ = _combine(data, pre["user_t"], mapped)
        self.item_factors_ = pre["item_t"]
        self.pretrain_logs_ = (pre["log_s"], pre["log_t"])
        return self


# ----------------------------------------------------------------------------- ptupcdr
@dataclass(frozen=True, kw_only=True)
class PTUPCDRConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`, used by both MF stages):
    meta_hidden: width of the hidden layers of the characteristic encoder and the meta network.
    map_learning_rate: Adam step size of the meta network (task-oriented stage).
    map_batch_size: target training pairs of overlapping users per meta-network step.
    """

    meta_hidden: int = 64
    map_learning_rate: float = 5e-3
    map_batch_size: int = 256

    search_space: ClassVar = {
        **CDRConfig.search_space,
        "meta_hidden": IntRange(16, 256, log=True),
        "map_learning_rate": FloatRange(1e-4, 1e-2, log=True),
    }


class _MetaBridge(torch.nn.Module):
    """Characteristic encoder (attention over the user's source items) + meta network -> a
    personalised ``d x d`` bridge per user."""

    def __init__(self, dim: int, hidden: int, device, gen):
        super().__init__()
        self.att1 = torch.nn.Linear(dim, hidden, device=device)
        self.att2 = torch.nn.Linear(hidden, 1, bias=False, device=device)
        self.meta1 = torch.nn.Linear(dim, hidden, device=device)
        self.meta2 = torch.nn.Linear(hidden, dim * dim, device=device)
        self.dim = dim
        for layer in (self.att1, self.att2, self.meta1, self.meta2):
            bound = 1.0 / layer.in_features**0.5
            torch.nn.init.uniform_(layer.weight, -bound, bound, generator=gen)
            if layer.bias is not None:
                torch.nn.init.uniform_(layer.bias, -bound, bound, generator=gen)

    def characteristics(
        self, item_s: torch.Tensor, indptr: torch.Tensor, indices: torch.Tensor, users: torch.Tensor
    ) -> torch.Tensor:
        """``p_u = sum_j softmax_j(a(v_j)) v_j`` over the source items of each of ``users`` (the CSR
        rows ``indptr``/``indices`` gathered without a Python loop; a segment softmax by
        ``index_add``). Users without source items get zeros."""
        starts, lens = indptr.index_select(0, users), (indptr[1:] - indptr[:-1]).index_select(0, users)
        seg = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), lens)
        offsets = torch.cumsum(lens, 0) - lens
        pos = torch.arange(seg.numel(), device=users.device) - offsets.index_select(0, seg)
        items = indices.index_select(0, starts.index_select(0, seg) + pos)
        v = item_s.index_select(0, items)
        logit = self.att2(torch.relu(self.att1(v))).squeeze(1)
        w = torch.exp(logit - logit.max()) if logit.numel() else logit
        denom = torch.zeros(users.numel(), device=v.device).index_add(0, seg, w)
        w = w / denom.index_select(0, seg).clamp_min(1e-12)
        return torch.zeros(users.numel(), self.dim, device=v.device).index_add(0, seg, v * w.unsqueeze(1))

    def bridge(self, p: torch.Tensor) -> torch.Tensor:
        return self.meta2(torch.relu(self.meta1(p))).view(-1, self.dim, self.dim)


@register("ptupcdr", config=PTUPCDRConfig, scenarios=("cdr_cold",))
class PTUPCDR(DotScorer):
    """PTUPCDR (Zhu et al., 2022): personalised bridges generated by a meta network from each user's
    source-domain item history, trained on the TASK (target interactions), not on embedding distance.

    p_u = sum_(j in H_u^s) softmax_j(h(v_j^s)) v_j^s;  W_u = g(p_u);  u^t = u^s W_u;
    min_(h,g) sum_(u in overlap, (u,i,j) in target) -log sigmoid(u^t.q_i - u^t.q_j)

    (the paper's task-oriented loss with BPR instead of rating MSE, as our data is implicit); the MF
    factors of both domains stay frozen. Attributes: ``user_factors_`` (own target factors, or the
    bridged ones for source-only users), ``item_factors_``, ``bridge_``, ``training_log_``,
    ``pretrain_logs_``.
    """

    #: several networks trained in sequence (epoch counts restart): the tune stage does not prune it
    #: (no epoch of one stage is comparable with another trial's; see bench.tune.FirstStageReporter)
    prunable = False

    def __init__(self, config: PTUPCDRConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> PTUPCDR:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        with T.num_threads(cfg.num_threads):
            pre = pretrain_domains(data, valid, cfg, rng, gen, device, method="ptupcdr")
            us = torch.from_numpy(pre["user_s"]).to(device)
            vs = torch.from_numpy(pre["item_s"]).to(device)
            vt = torch.from_numpy(pre["item_t"]).to(device)
            src = data.source.matrix.tocsr()
            indptr = torch.from_numpy(src.indptr.astype(np.int64)).to(device)
            indices = torch.from_numpy(src.indices.astype(np.int64)).to(device)
            # task data: target training pairs of overlapping users
            overlap = np.zeros(data.n_users, dtype=bool)
            overlap[data.overlap_users] = True
            keep = overlap[np.repeat(np.arange(data.n_users), np.diff(data.target.matrix.indptr))]
            pairs = DomainPairs(data.target, device)
            task = torch.from_numpy(np.flatnonzero(keep)).to(device)
            bridge = _MetaBridge(cfg.embedding_size, cfg.meta_hidden, device, gen)
            opt = adam(bridge.parameters(), cfg.map_learning_rate)

            def mapped_users(users: torch.Tensor) -> torch.Tensor:
                p = bridge.characteristics(vs, indptr, indices, users)
                return torch.bmm(us.index_select(0, users).unsqueeze(1), bridge.bridge(p)).squeeze(1)

            def all_mapped() -> np.ndarray:
                every = torch.arange(data.n_users, device=device)
                return torch.cat([mapped_users(c) for c in every.split(4096)]).detach().cpu().numpy()

            def loss_fn(idx: torch.Tensor) -> torch.Tensor:
                u, i, j = pairs.batch(task[idx], gen)
                uniq, inv = torch.unique(u, return_inverse=True)
                ut = mapped_users(uniq).index_select(0, inv)
                qi, qj = rows(vt, i), rows(vt, j)
                return T.bpr_loss((ut * qi).sum(1), (ut * qj).sum(1)) + l2(cfg.reg, idx.numel(), ut)

            def run_epoch(epoch: int) -> float:
                if task.numel() == 0:
                    return 0.0
                return run_steps(joint_steps([task.numel()], cfg.map_batch_size, gen, device), loss_fn, opt)

            def build_score_fn() -> T.ScoreFn:
                mapped = all_mapped()
                users = torch.from_numpy(_combine(data, pre["user_t"], mapped)).to(device)
                return lambda u: T.dot_scores(users, vt, u, device)

            evaluate = validation_evaluator(build_score_fn, train=data.target,
                valid=valid, cfg=cfg, rng=rng, method="ptupcdr")
            self.training_log_ = T.train_epochs(
                bridge, run_epoch, cfg, evaluate=evaluate, method="ptupcdr",
            )
            with torch.no_grad():
                mapped = all_mapped()
        self.bridge_ = bridge.cpu()
        self.user_factors_ = _combine(data, pre["user_t"], mapped)
        self.item_factors_ = pre["item_t"]
        self.pretrain_logs_ = (pre["log_s"], pre["log_t"])
        return self

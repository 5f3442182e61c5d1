"""Cross-domain baselines that papers most often under-tune: ``target_only``, ``pooled``, ``finetune``
and ``cmf``. All are BPR matrix factorisations (Rendle et al., 2009) scored by ``p_u . q_j`` over the
target items, trained with Adam and early-stopped on the target validation part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from bench.cdr import CDRData
from bench.interactions import Interactions
from bench.methods import FloatRange, register
from methods import _torch as T
from methods._cdr import (
    adam,
    CDRConfig,
    DomainPairs,
    DotScorer,
    Factors,
    has_rows,
    holdout,
    joint_steps,
    rows,
    run_steps,
    single_domain_validation,
    validation_evaluator,
    train_mf,
)

__all__ = ["CMF", "CMFConfig", "FineTune", "FineTuneConfig", "Pooled", "PooledConfig", "TargetOnly", "TargetOnlyConfig"]



def _target_scorer(model: Factors, offset: int, device: torch.device) -> T.ScoreFn:
    items = model.item.detach()[offset:]
    return lambda u: T.dot_scores(model.user.detach(), items, u, device)


# ----------------------------------------------------------------------------- target_only
@dataclass(frozen=True, kw_only=True)
class TargetOnlyConfig(CDRConfig):
    """Fields as in :class:`methods._cdr.CDRConfig`."""


@register("target_only", config=TargetOnlyConfig, scenarios=("cdr_warm", "cdr_cold"))
class TargetOnly(DotScorer):
    """Target-domain-only BPR-MF (the ``mf`` top-N model, fitted on the target domain alone).

    min_(P,Q) sum_(u,i,j in target) -log sigmoid(p_u.q_i - p_u.q_j) + reg/2 (|p_u|^2 + |q_i|^2 + |q_j|^2)

    The source domain is ignored. Users without target training interactions (cold-start users)
    CANNOT be scored: their factors are set to zero, so every target item gets the same constant
    score 0 for them (uninformative; the sampled protocol's pessimistic ties rank the positive last).
    In cold-start splits, early stopping uses a one-item-per-user holdout of the target training data
    (the validation users are all cold).

    Attributes (after ``fit``): ``user_factors_``, ``item_factors_`` (target items), ``training_log_``.
    """

    def __init__(self, config: TargetOnlyConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> TargetOnly:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        with T.num_threads(cfg.num_threads):
            train, val = single_domain_validation(data.target, valid, rng)
            user, item, self.training_log_ = train_mf(
                train, val, cfg, gen, device, method="target_only", rng=rng
            )
        user[~has_rows(data.target)] = 0.0  # no target evidence: constant scores
        self.user_factors_, self.item_factors_ = user, item
        return self


# ----------------------------------------------------------------------------- pooled
@dataclass(frozen=True, kw_only=True)
class PooledConfig(CDRConfig):
    """Fields as in :class:`methods._cdr.CDRConfig`."""


@register("pooled", config=PooledConfig, scenarios=("cdr_warm", "cdr_cold"))
class Pooled(DotScorer):
    """One BPR-MF on the union of both domains (items of both domains in one catalogue).

    min sum_(u,i,j in source U target) -log sigmoid(p_u.q_i - p_u.q_j) + reg/2 (...), j drawn from
    ALL items of both domains; scores are restricted to the target items.

    Users with only source interactions (cold-start) are scored through their user factors, which
    the source pairs train. Attributes: ``user_factors_``, ``item_factors_`` (target), ``training_log_``.
    """

    def __init__(self, config: PooledConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> Pooled:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n_s = data.n_source_items
        with T.num_threads(cfg.num_threads):
            joint = data.joint()
            pairs = DomainPairs(joint, device)
            model = Factors(data.n_users, joint.n_items, cfg.embedding_size, cfg.init_std, device, gen)
            opt = adam(model.parameters(), cfg.learning_rate)

            def loss_fn(idx: torch.Tensor) -> torch.Tensor:
                u, i, j = pairs.batch(idx, gen)
                pu, qi, qj = rows(model.user, u), rows(model.item, i), rows(model.item, j)
                return T.bpr_mf_loss(pu, qi, qj, cfg.reg)

            def run_epoch(epoch: int) -> float:
                return run_steps(joint_steps([pairs.n], cfg.batch_size, gen, device), loss_fn, opt)

            evaluate = validation_evaluator(
                lambda: _target_scorer(model, n_s, device), train=data.target, valid=valid,
                cfg=cfg, rng=rng, method="pooled",
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch, cfg, evaluate=evaluate, method="pooled",
            )
            self.user_factors_ = model.user.detach().cpu().numpy().copy()
            self.item_factors_ = model.item.detach()[n_s:].cpu().numpy().copy()
        return self


# ----------------------------------------------------------------------------- finetune
@dataclass(frozen=True, kw_only=True)
class FineTuneConfig(CDRConfig):
    """Fields as in :class:`methods._cdr.CDRConfig`; both stages use them."""


@register("finetune", config=FineTuneConfig, scenarios=("cdr_warm", "cdr_cold"))
class FineTune(DotScorer):
    """Pre-train on the source, fine-tune on the target (the transfer-learning baseline).

    stage 1: (P, Q_s) = argmin BPR(source) (early-stopped on a one-item-per-user source holdout);
    stage 2: (P, Q_t) = argmin BPR(target) starting from stage 1's P and fresh Q_t (early-stopped on
    the target validation part). Score p_u . q_j.

    Cold-start users (no target interactions) keep their source-pretrained user factors (stage 2 never
    updates them), so they are scored by the pretrained factors against the fine-tuned target items.
    Attributes: ``user_factors_``, ``item_factors_`` (target), ``training_log_``, ``pretrain_log_``.
    """

    #: several networks trained in sequence (epoch counts restart): the tune stage does not prune it
    #: (no epoch of one stage is comparable with another trial's; see bench.tune.FirstStageReporter)
    prunable = False

    def __init__(self, config: FineTuneConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> FineTune:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        with T.num_threads(cfg.num_threads):
            s_train, s_valid = holdout(data.source, rng)
            user_s, _, self.pretrain_log_ = train_mf(
                s_train, s_valid, cfg, gen, device, method="finetune (pretrain)", rng=rng
            )
            user, item, self.training_log_ = train_mf(
                data.target, valid, cfg, gen, device, method="finetune", rng=rng,
                init_user=torch.from_numpy(user_s).to(device),
            )
        self.user_factors_, self.item_factors_ = user, item
        return self


# ----------------------------------------------------------------------------- cmf
@dataclass(frozen=True, kw_only=True)
class CMFConfig(CDRConfig):
    """Attributes (besides :class:`methods._cdr.CDRConfig`):
    alpha: weight of the target loss; the source loss gets ``1 - alpha``.
    """

    alpha: float = 0.5

    search_space: ClassVar = {**CDRConfig.search_space, "alpha": FloatRange(0.1, 0.9)}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")


@register("cmf", config=CMFConfig, scenarios=("cdr_warm", "cdr_cold"))
class CMF(DotScorer):
    """Collective matrix factorisation (Singh & Gordon, KDD 2008) with shared user factors and a
    BPR loss per domain (implicit feedback instead of the paper's weighted squared loss).

    min_(P,Q_s,Q_t) alpha * BPR(target; P, Q_t) + (1 - alpha) * BPR(source; P, Q_s) + reg/2 (...)

    Each step takes a slice of both domains' pairs (one epoch visits all of both). Cold-start users
    are scored through the shared factors the source loss trains. Attributes: ``user_factors_``,
    ``item_factors_`` (target), ``source_item_factors_``, ``training_log_``.
    """

    def __init__(self, config: CMFConfig):
        self.config = config

    def fit(self, data: CDRData, *, rng: np.random.Generator, valid: Interactions | None = None) -> CMF:
        cfg = self.config
        device = T.resolve_device(cfg.device)
        gen = T.make_generator(rng, device)
        n_s = data.n_source_items
        with T.num_threads(cfg.num_threads):
            src, tgt = DomainPairs(data.source, device), DomainPairs(data.target, device)
            model = Factors(data.n_users, n_s + data.n_target_items, cfg.embedding_size, cfg.init_std, device, gen)
            opt = adam(model.parameters(), cfg.learning_rate)

            def domain_loss(pairs: DomainPairs, idx: torch.Tensor, offset: int) -> torch.Tensor:
                if idx.numel() == 0:
                    return torch.zeros((), device=device)
                u, i, j = pairs.batch(idx, gen)
                pu, qi, qj = rows(model.user, u), rows(model.item, i + offset), rows(model.item, j + offset)
                return T.bpr_mf_loss(pu, qi, qj, cfg.reg)

            def loss_fn(idx_t: torch.Tensor, idx_s: torch.Tensor) -> torch.Tensor:
                return cfg.alpha * domain_loss(tgt, idx_t, n_s) + (1.0 - cfg.alpha) * domain_loss(src, idx_s, 0)

            def run_epoch(epoch: int) -> float:
                return run_steps(joint_steps([tgt.n, src.n], cfg.batch_size, gen, device), loss_fn, opt)

            evaluate = validation_evaluator(
                lambda: _target_scorer(model, n_s, device), train=data.target, valid=valid,
                cfg=cfg, rng=rng, method="cmf",
            )
            self.training_log_ = T.train_epochs(
                model, run_epoch, cfg, evaluate=evaluate, method="cmf",
            )
            self.user_factors_ = model.user.detach().cpu().numpy().copy()
            self.item_factors_ = model.item.detach()[n_s:].cpu().numpy().copy()
            self.source_item_factors_ = model.item.detach()[:n_s].cpu().numpy().copy()
        return self

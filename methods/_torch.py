"""Shared torch plumbing of every torch method (top-N, multi-task and cross-domain).

* :class:`TorchConfig` / :class:`FactorConfig` — the config base every torch method's config extends
  (device, threads, epochs, batch size, learning rate, regularisation, early stopping), with
  per-method defaults redeclared by the subclasses;
* :class:`Factors`, :func:`bpr_mf_loss`, :func:`l2` — the user/item embedding tables and the BPR
  step of matrix factorisation shared by ``mf`` and the cross-domain MF family;

* :func:`resolve_device` — the ``device: auto|cpu|cuda`` config option (auto = cuda when available);
* :func:`make_generator` — a :class:`torch.Generator` seeded from the run's numpy ``rng``: the only
  source of randomness (initialisation, shuffling, negatives, dropout, reparameterisation). Nothing
  here or in the methods touches torch's global RNG or global determinism flags;
* :func:`num_threads` — temporarily applies the ``num_threads`` config option (0 = torch default);
* :func:`interaction_tensors` / :func:`sample_negatives` — the training pairs and vectorised uniform
  negative sampling for pairwise (BPR) losses;
* :func:`validation_evaluator` + :func:`train_epochs` — the early-stopping loop every epoch-based
  method shares: score ``valid`` every ``eval_every`` epochs (NDCG@10, full ranking, training items
  excluded), keep the best ``state_dict``, stop once the *smoothed* validation score (mean of the
  last ``smoothing`` evaluations) has not improved for ``patience`` evaluations and at least
  ``min_epochs`` epochs ran, and restore the best state. :class:`TrainingLog` records what happened
  (epochs run, best epoch, why training stopped) for the run record.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from bench import progress
from bench.errors import ConfigError, MethodError
from bench.fitting import StopReason, TrainingLog
from bench.interactions import Interactions
from bench.methods import Categorical, Config, FloatRange, check_users

__all__ = [
    "DotScorer",
    "FactorConfig",
    "Factors",
    "ScoreFn",
    "StopReason",
    "TopNStopping",
    "TorchConfig",
    "TrainingLog",
    "bpr_loss",
    "bpr_mf_loss",
    "check_common",
    "dot_scores",
    "interaction_tensors",
    "l2",
    "make_generator",
    "num_threads",
    "resolve_device",
    "sample_negatives",
    "train_epochs",
    "validation_evaluator",
]

ScoreFn = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------- device, rng, threads
def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda if available else cpu; ``"cuda"`` without CUDA is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device: 'cuda' was requested but torch reports no CUDA device "
            f"(torch {torch.__version__}); use device: auto or cpu"
        )
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"device: {device!r} is not one of ['auto', 'cpu', 'cuda']")
    return torch.device(device)


def make_generator(rng: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded by one draw from ``rng`` (never global seeding)."""
    return torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))


@contextlib.contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (0 = leave torch's setting), then restore it."""
    if n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True, kw_only=True)
class TorchConfig(Config):
    """Fields every torch method shares; a method's config subclasses this and redeclares a field
    only to give it its own default.

    Attributes:
        embedding_size: dimension of the learned embeddings.
        epochs: maximum number of passes over the training data.
        learning_rate: Adam step size.
        reg: L2 weight (its exact form is the method's, documented there).
        batch_size: training examples per gradient step.
        patience: evaluations on ``valid`` without improvement of the smoothed validation score
            before stopping early (the best state is restored, :func:`train_epochs`).
        smoothing: the stopping criterion is the mean of the last ``smoothing`` validation scores
            (1 = the raw score); a window averages out the noise of a small validation set, so a
            lucky evaluation does not end training while the model still improves.
        min_epochs: epochs always trained before early stopping may end training (at or above
            ``epochs``: every epoch runs, the best state is still restored).
        eval_every: epochs between evaluations on ``valid``.
        device: ``auto`` (cuda if available, else cpu), ``cpu`` or ``cuda``.
        num_threads: torch intra-op threads during fit and scoring; 0 keeps torch's default.
    """

    embedding_size: int = 64
    epochs: int = 200
    learning_rate: float = 1e-3
    reg: float = 1e-4
    batch_size: int = 1024
    patience: int = 10
    smoothing: int = 1
    min_epochs: int = 0
    eval_every: int = 1
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int = 0

    search_space: ClassVar = {
        "embedding_size": Categorical((32, 64, 128)),
        "learning_rate": FloatRange(1e-4, 1e-1, log=True),
        "reg": FloatRange(1e-6, 1e-2, log=True),
    }

    def __post_init__(self) -> None:
        check_common(self)


@dataclass(frozen=True, kw_only=True)
class FactorConfig(TorchConfig):
    """A :class:`TorchConfig` whose embeddings are :class:`Factors` tables.

    Attributes:
        init_std: standard deviation of their normal initialisation.
    """

    init_std: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")


@dataclass(frozen=True, kw_only=True)
class TopNStopping(TorchConfig):
    """The stopping rule of the top-N family (``mf``, ``lightgcn``, ``multvae``): one rule for all
    three, mixed in before their config base (``class MFConfig(TopNStopping, FactorConfig)``).

    Measured on ``ml100k-topn`` with stopping disabled (800 epochs, validation NDCG@10 every epoch;
    ``benchmarks/check_convergence.py``): the leave-one-out validation of ~930 users has a standard
    error of ~0.006 per evaluation, larger than the improvement of many epochs, so the old raw-score
    rule (patience 10) ended ``mf`` at epoch 50 with 0.044 where its smoothed curve still rose to
    0.059. The mean of the last 10 evaluations with a patience of 50 evaluations follows the
    smoothed curve; the epoch cap is high enough that the rule, not the cap, ends training (a cell
    that hits the cap is flagged in the report).
    """

    epochs: int = 1000
    patience: int = 50
    smoothing: int = 10


def check_common(config: TorchConfig) -> None:
    """Range checks of the :class:`TorchConfig` fields (raised as ``ValueError``, which
    :meth:`bench.methods.Config.from_params` reports as a ``ConfigError`` naming the method)."""
    for name in ("embedding_size", "epochs", "batch_size", "patience", "smoothing", "eval_every"):
        value = getattr(config, name)
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if config.min_epochs < 0:
        raise ValueError(f"min_epochs must be >= 0, got {config.min_epochs}")
    if not config.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate}")
    if config.reg < 0:
        raise ValueError(f"reg must be >= 0, got {config.reg}")
    if config.num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0 = torch default), got {config.num_threads}")


def dot_scores(
    user_factors: torch.Tensor, item_factors: torch.Tensor, users: np.ndarray, device: torch.device
) -> np.ndarray:
    """``user_factors[users] @ item_factors.T`` in one matmul on ``device``, as float32 numpy."""
    u = torch.as_tensor(np.asarray(users, dtype=np.int64), device=device)
    return (user_factors[u] @ item_factors.T).float().cpu().numpy()


class DotScorer:
    """Mixin: ``score(users) = user_factors_[users] @ item_factors_.T`` (float32) on the config's
    device with its ``num_threads``, for every method whose final model is a dot product of user and
    item factors (``mf``, ``lightgcn`` and the cross-domain MF and graph methods)."""

    config: TorchConfig
    method_name: str

    def score(self, users: np.ndarray) -> np.ndarray:
        users = check_users(users, self.user_factors_.shape[0], self.method_name)
        device = resolve_device(self.config.device)
        with num_threads(self.config.num_threads), torch.no_grad():
            return dot_scores(
                torch.from_numpy(self.user_factors_).to(device),
                torch.from_numpy(self.item_factors_).to(device),
                users,
                device,
            )


# ----------------------------------------------------------------------------- pairwise sampling
def interaction_tensors(
    data: Interactions, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(users, items, keys)`` of the distinct training pairs as int64 tensors on ``device``.

    ``keys = user * n_items + item`` is sorted (CSR order), for membership tests in
    :func:`sample_negatives`. Copies are made, so ``data`` is never mutated nor aliased.
    """
    m = data.matrix.tocsr()
    m = m if m.has_sorted_indices else m.sorted_indices()
    users = np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))
    items = m.indices.astype(np.int64, copy=True)
    keys = users * np.int64(m.shape[1]) + items
    return (
        torch.from_numpy(users).to(device),
        torch.from_numpy(items).to(device),
        torch.from_numpy(keys).to(device),
    )


def sample_negatives(
    users: torch.Tensor,
    keys: torch.Tensor,
    n_items: int,
    generator: torch.Generator,
    *,
    rounds: int = 5,
) -> torch.Tensor:
    """One uniformly drawn item per user that the user has not interacted with.

    Draws all candidates at once with :func:`torch.randint`; candidates that hit a training pair
    (binary search in the sorted ``keys``) are redrawn, at most ``rounds`` times — after that the
    few remaining collisions are kept (only possible for users who interacted with almost every
    item), so the cost is bounded and stays vectorised.
    """
    neg = torch.randint(n_items, users.shape, generator=generator, device=users.device)
    if keys.numel() == 0:
        return neg
    todo = torch.arange(users.numel(), device=users.device)  # positions still to check
    for _ in range(rounds):
        cand = users[todo] * n_items + neg[todo]
        pos = torch.searchsorted(keys, cand).clamp_(max=keys.numel() - 1)
        todo = todo[keys[pos] == cand]
        if todo.numel() == 0:
            break
        neg[todo] = torch.randint(n_items, todo.shape, generator=generator, device=users.device)
    return neg


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log sigmoid(x_ui - x_uj)`` (Rendle et al., 2009), computed stably."""
    return torch.nn.functional.softplus(neg - pos).mean()


def l2(reg: float, batch: int, *tensors: torch.Tensor) -> torch.Tensor:
    """``reg * 0.5 * sum of squares / batch`` of the batch's embeddings (the LightGCN reference
    regulariser, so ``reg`` means the same for every method that uses it)."""
    return reg * 0.5 * sum(t.square().sum() for t in tensors) / max(batch, 1)


def bpr_mf_loss(pu: torch.Tensor, qi: torch.Tensor, qj: torch.Tensor, reg: float) -> torch.Tensor:
    """The BPR step of matrix factorisation: :func:`bpr_loss` of ``pu . qi`` over ``pu . qj`` plus
    :func:`l2` on the batch's user, positive and negative item factors (``mf``, and the CDR MF
    family: ``target_only``, ``pooled``, ``finetune``, ``cmf``, ``emcdr``/``ptupcdr`` pre-training)."""
    return bpr_loss((pu * qi).sum(1), (pu * qj).sum(1)) + l2(reg, pu.shape[0], pu, qi, qj)


class Factors(torch.nn.Module):
    """User and item embedding tables (``user``, ``item``), normally initialised from ``generator``
    (users first, then items)."""

    def __init__(self, n_users: int, n_items: int, dim: int, std: float, device, generator):
        super().__init__()
        self.user = torch.nn.Parameter(torch.empty(n_users, dim, device=device))
        self.item = torch.nn.Parameter(torch.empty(n_items, dim, device=device))
        torch.nn.init.normal_(self.user, std=std, generator=generator)
        torch.nn.init.normal_(self.item, std=std, generator=generator)


# ----------------------------------------------------------------------------- early stopping
def validation_evaluator(
    build_score_fn: Callable[[], ScoreFn],
    *,
    train: Interactions,
    valid: Interactions | None,
    method: str,
    k: int = 10,
    batch_size: int = 1024,
) -> Callable[[], float] | None:
    """The early-stopping criterion: mean NDCG@k on ``valid`` with training items masked.

    ``build_score_fn`` is called once per evaluation (so a method can propagate or cache what scoring
    needs) and returns ``users -> (len(users), n_items)`` scores. Returns ``None`` — train for all
    ``epochs`` — when ``valid`` is ``None`` or empty.
    """
    if valid is None or valid.nnz == 0:
        return None
    if valid.matrix.shape != train.matrix.shape:
        raise MethodError(
            f"{method}: valid interactions have shape {valid.matrix.shape} but train has "
            f"{train.matrix.shape}; both must use the split's global user/item index space"
        )
    exclude, truth = train.matrix.tocsr(), valid.matrix.tocsr()

    def evaluate() -> float:
        from bench.evaluate.ranking import validation_score  # imported late: the harness module is optional here

        return float(
            validation_score(
                build_score_fn(), exclude=exclude, truth=truth, k=k, metric="ndcg",
                batch_size=batch_size,
            )
        )

    return evaluate


def train_epochs(
    module: torch.nn.Module,
    run_epoch: Callable[[int], float],
    config: TorchConfig,
    *,
    evaluate: Callable[[], float] | None,
    method: str,
) -> TrainingLog:
    """Run ``run_epoch(epoch)`` (1-based; returns the epoch's mean loss) up to ``config.epochs`` times.

    With ``evaluate`` (higher is better): it runs after every ``eval_every``-th epoch and after the
    last one, with ``module`` in eval mode and gradients off. A strictly better raw score snapshots
    ``module.state_dict()`` (the state that is restored at the end). Training stops when the
    criterion — the mean of the last ``smoothing`` scores — has not improved for ``patience``
    evaluations in a row and at least ``min_epochs`` epochs ran. Without ``evaluate`` exactly
    ``epochs`` epochs run and the final parameters are kept. The same rule serves every epoch-based
    method of every family; only the config values differ.

    Raises:
        MethodError: when an epoch's loss is not finite (naming the epoch and what to change).
    """
    epochs, window = config.epochs, config.smoothing
    log = TrainingLog(max_epochs=epochs)
    best_state: dict[str, torch.Tensor] | None = None
    best = best_smooth = -math.inf
    bad = 0
    for epoch in range(1, epochs + 1):
        module.train()
        loss = float(run_epoch(epoch))
        log.epochs_run = epoch
        log.losses.append(loss)
        if not math.isfinite(loss):
            raise MethodError(
                f"{method}: training loss became {loss} in epoch {epoch}; lower learning_rate "
                "or raise reg"
            )
        if evaluate is None or (epoch % config.eval_every and epoch != epochs):
            progress.epoch(progress.Epoch(
                method, epoch, epochs, loss=loss, best_score=log.best_score,
                best_epoch=log.best_epoch if log.best_score is not None else None,
            ))
            continue
        module.eval()
        with torch.no_grad():
            score = float(evaluate())
        log.scores.append((epoch, score))
        progress.report(epoch, score)  # no-op unless the tune stage listens (pruning)
        if score > best:  # NaN never improves
            best = score
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            log.best_epoch, log.best_score = epoch, score
        recent = [v for _, v in log.scores[-window:]]
        smooth = sum(recent) / len(recent)
        if smooth > best_smooth:
            best_smooth, bad = smooth, 0
        else:
            bad += 1
        stop = bad >= config.patience and epoch >= config.min_epochs
        progress.epoch(progress.Epoch(
            method, epoch, epochs, loss=loss, score=score, best_score=log.best_score,
            best_epoch=log.best_epoch if log.best_score is not None else None,
        ))
        if stop:
            log.stop_reason = "patience"
            break
    else:
        if evaluate is not None:
            log.stop_reason = "epoch_cap"
    module.eval()
    if best_state is not None:
        module.load_state_dict(best_state)
    else:
        log.best_epoch = log.epochs_run
    return log

"""methods/_torch.py: device option, explicit generators, negative sampling and the early-stopping loop.

Also holds the tiny known-answer data (:func:`checkerboard`) and checks shared by the ``mf``, ``multvae``
and ``lightgcn`` test files.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from bench.errors import ConfigError, MethodError, UnknownUserError
from bench.evaluate import validation_score
from bench.interactions import Interactions
from methods import _torch as T

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


# ----------------------------------------------------------------------------- shared test data
def checkerboard(
    n_users: int = 40, n_items: int = 30, *, keep: float = 0.6, cold_users: int = 2, seed: int = 0
) -> tuple[Interactions, Interactions]:
    """Even users like even items, odd users odd items (implicit's known-answer test).

    Each user's own-parity items are split at random into train (fraction ``keep``) and valid (the
    rest), so the correct top-1 unseen item of every user has the user's parity. The last
    ``cold_users`` users have no interaction at all.
    """
    rng = np.random.default_rng(seed)
    users, items = np.nonzero(
        (np.arange(n_users)[:, None] % 2) == (np.arange(n_items)[None, :] % 2)
    )
    warm = users < n_users - cold_users
    users, items = users[warm], items[warm]
    is_train = rng.random(len(users)) < keep
    frame = pd.DataFrame(
        {"user": users, "item": items, "rating": 5.0, "timestamp": np.arange(len(users))}
    )
    return (
        Interactions.from_frame(frame[is_train], n_users, n_items),
        Interactions.from_frame(frame[~is_train], n_users, n_items),
    )


def parity_hit_rate(scores: np.ndarray, train: Interactions, users: np.ndarray) -> float:
    """Fraction of ``users`` whose best-scored unseen item has the user's parity."""
    s = scores.astype(np.float64, copy=True)
    seen = train.matrix[users].tocoo()
    s[seen.row, seen.col] = -np.inf
    top = s.argmax(axis=1)
    return float(np.mean(top % 2 == users % 2))


def check_known_answer(method, *, min_hit_rate: float = 0.9) -> None:
    """Fit on the checkerboard and require the top-1 unseen item's parity for (almost) every warm
    user — random or popularity scores get about half right, so a broken model fails."""
    train, _ = checkerboard()
    method.fit(train, rng=np.random.default_rng(1))
    warm = np.flatnonzero(np.diff(train.matrix.indptr) > 0)
    scores = method.score(warm)
    assert scores.dtype == np.float32 and scores.shape == (len(warm), train.n_items)
    assert parity_hit_rate(scores, train, warm) >= min_hit_rate


def check_fit_contract(make, monkeypatch) -> None:
    """Shared checks: determinism, fixed epochs without valid, restored best epoch with valid, cold
    users, pickling, no global RNG use, no mutation of the data, unknown users.

    ``make(**overrides)`` builds an unfitted method with small settings (``epochs`` >= 4)."""
    train, valid = checkerboard()
    users = np.arange(train.n_users)
    before_matrix = train.matrix.copy()
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()

    a = make().fit(train, rng=np.random.default_rng(7))
    b = make().fit(train, rng=np.random.default_rng(7))
    c = make().fit(train, rng=np.random.default_rng(8))
    sa = a.score(users)
    assert np.array_equal(sa, b.score(users)), "same seed must give identical scores"
    assert not np.array_equal(sa, c.score(users)), "the seed must matter"
    assert np.isfinite(sa).all()  # includes the cold users at the end
    # without valid: exactly `epochs` epochs, final parameters kept
    log = a.training_log_
    assert log.epochs_run == a.config.epochs == len(log.losses)
    assert log.scores == [] and log.best_epoch == a.config.epochs and not log.stopped_early

    # pickling keeps the scores
    assert np.array_equal(pickle.loads(pickle.dumps(a)).score(users), sa)
    # nothing global was touched, data unchanged
    assert torch.equal(torch_state, torch.random.get_rng_state())
    assert np.array_equal(np_state[1], np.random.get_state()[1])
    assert (train.matrix != before_matrix).nnz == 0

    with pytest.raises(UnknownUserError):
        a.score(np.array([train.n_users]))

    # with valid: the returned model is the best evaluated epoch
    m = make().fit(train, rng=np.random.default_rng(7), valid=valid)
    log = m.training_log_
    assert log.scores and log.best_score == max(s for _, s in log.scores)
    assert (log.best_epoch, log.best_score) in log.scores
    restored = validation_score(m.score, exclude=train.matrix, truth=valid.matrix)
    assert restored == pytest.approx(log.best_score, abs=1e-6)

    # a validation curve that peaks after epoch 1: training stops at epoch 3 (patience 2) and the
    # returned model is exactly the one-epoch model
    def fake_evaluator(build_score_fn, **kwargs):
        curve = iter([0.5, 0.4, 0.3, 0.2, 0.1])
        return lambda: (build_score_fn(), next(curve))[1]

    monkeypatch.setattr(T, "validation_evaluator", fake_evaluator)
    peaked = make(patience=2, eval_every=1).fit(train, rng=np.random.default_rng(7), valid=valid)
    assert (peaked.training_log_.epochs_run, peaked.training_log_.best_epoch) == (3, 1)
    one = make(epochs=1).fit(train, rng=np.random.default_rng(7))
    assert np.array_equal(peaked.score(users), one.score(users))


# ----------------------------------------------------------------------------- device and generator
def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert T.resolve_device("auto").type == expected
    assert T.resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="device: 'cuda'"):
        T.resolve_device("cuda")


@cuda_only
def test_cuda_generator():
    g = T.make_generator(np.random.default_rng(0), torch.device("cuda"))
    assert g.device.type == "cuda"


def test_generator_comes_from_the_numpy_rng_only():
    state = torch.random.get_rng_state()
    g1 = T.make_generator(np.random.default_rng(3), torch.device("cpu"))
    g2 = T.make_generator(np.random.default_rng(3), torch.device("cpu"))
    g3 = T.make_generator(np.random.default_rng(4), torch.device("cpu"))
    x1, x2, x3 = (torch.rand(5, generator=g) for g in (g1, g2, g3))
    assert torch.equal(x1, x2) and not torch.equal(x1, x3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_num_threads_is_restored():
    before = torch.get_num_threads()
    with T.num_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with T.num_threads(0):
        assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------- negative sampling
def test_sample_negatives_avoids_positives_and_is_deterministic():
    rng = np.random.default_rng(0)
    dense = rng.random((50, 40)) < 0.5  # half the items are positives
    m = sp.csr_matrix(dense.astype(np.float32))
    data = Interactions(matrix=m, frame=pd.DataFrame())
    users, _, keys = T.interaction_tensors(data, torch.device("cpu"))

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return T.sample_negatives(users, keys, 40, g, rounds=30)

    neg = draw(1)
    assert neg.shape == users.shape and int(neg.min()) >= 0 and int(neg.max()) < 40
    assert not dense[users.numpy(), neg.numpy()].any()
    assert torch.equal(neg, draw(1)) and not torch.equal(neg, draw(2))


def test_interaction_tensors_match_the_matrix():
    train, _ = checkerboard()
    users, items, keys = T.interaction_tensors(train, torch.device("cpu"))
    coo = train.matrix.tocoo()
    assert sorted(zip(users.tolist(), items.tolist())) == sorted(zip(coo.row, coo.col))
    assert torch.all(keys[1:] > keys[:-1])


# ----------------------------------------------------------------------------- early stopping
class _Counter(torch.nn.Module):
    """A module whose only parameter records the epoch that last wrote it."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


def _run(scores, *, epochs, eval_every=1, patience=2, losses=None, smoothing=1, min_epochs=0):
    module = _Counter()
    config = T.TorchConfig(
        epochs=epochs, eval_every=eval_every, patience=patience, smoothing=smoothing,
        min_epochs=min_epochs,
    )
    seq = iter(scores or [])
    evaluated = []

    def run_epoch(epoch):
        with torch.no_grad():
            module.w.fill_(epoch)
        return 1.0 if losses is None else losses[epoch - 1]

    def evaluate():
        assert not module.training and not torch.is_grad_enabled()
        evaluated.append(int(module.w))
        return next(seq)

    log = T.train_epochs(
        module, run_epoch, config, evaluate=evaluate if scores is not None else None, method="fake",
    )
    return module, log, evaluated


def test_early_stopping_restores_the_best_epoch():
    module, log, evaluated = _run([0.1, 0.3, 0.2, 0.25, 0.9], epochs=10, patience=2)
    assert evaluated == [1, 2, 3, 4]  # stops after 2 evaluations without improvement
    assert log.epochs_run == 4 and log.stopped_early and log.stop_reason == "patience"
    assert log.best_epoch == 2 and log.best_score == 0.3
    assert int(module.w) == 2  # parameters of epoch 2 are back
    assert log.scores == [(1, 0.1), (2, 0.3), (3, 0.2), (4, 0.25)]


def test_eval_every_and_final_epoch_is_evaluated():
    module, log, evaluated = _run([0.1, 0.2, 0.3, 0.4], epochs=7, eval_every=2, patience=3)
    assert evaluated == [2, 4, 6, 7]  # the last epoch is evaluated even off the grid
    assert log.epochs_run == 7 and not log.stopped_early and log.stop_reason == "epoch_cap"
    assert log.best_epoch == 7 and int(module.w) == 7
    assert log.to_record() == {
        "epochs_run": 7, "max_epochs": 7, "best_epoch": 7, "best_valid_score": 0.4,
        "stop_reason": "epoch_cap",
    }


def test_smoothed_criterion_outlasts_one_lucky_evaluation():
    # a lucky 0.5 at epoch 2, then a slow real climb: the raw rule (patience 2) stops at epoch 4,
    # the mean of the last 3 scores keeps improving, so training goes on until the climb ends
    scores = [0.1, 0.5, 0.2, 0.3, 0.35, 0.4, 0.45, 0.45, 0.45, 0.45, 0.45]
    _, raw, _ = _run(scores, epochs=11, patience=2)
    assert raw.epochs_run == 4 and raw.best_epoch == 2
    module, smooth, _ = _run(scores, epochs=11, patience=2, smoothing=3)
    # smoothed means: .1 .3 .267 .333 .283 .35 .4 .433 .45 .45 .45 -> last improvement at epoch 9
    assert smooth.epochs_run == 11 and smooth.stop_reason == "patience"
    assert smooth.best_epoch == 2  # the restored state is still the best raw score


def test_min_epochs_holds_off_stopping():
    _, log, evaluated = _run([0.5, 0.1, 0.1, 0.1, 0.1, 0.1], epochs=6, patience=1, min_epochs=4)
    assert evaluated == [1, 2, 3, 4] and log.stop_reason == "patience"


def test_stopping_fields_are_validated():
    with pytest.raises(ValueError, match="smoothing"):
        T.TorchConfig(smoothing=0)
    with pytest.raises(ValueError, match="min_epochs"):
        T.TorchConfig(epochs=5, min_epochs=-1)
    assert T.TorchConfig(epochs=5, min_epochs=6).min_epochs == 6  # at or above epochs: no early stop


def test_min_epochs_above_the_cap_trains_every_epoch_and_restores_the_best():
    module, log, _ = _run([0.5, 0.1, 0.1, 0.1], epochs=4, patience=1, min_epochs=20)
    assert log.epochs_run == 4 and log.best_epoch == 1 and int(module.w) == 1


def test_equal_score_is_not_an_improvement_and_nan_never_improves():
    module, log, _ = _run([0.5, 0.5, math.nan], epochs=10, patience=2)
    assert log.best_epoch == 1 and log.epochs_run == 3 and int(module.w) == 1


def test_without_evaluate_runs_exactly_epochs():
    module, log, evaluated = _run(None, epochs=6)
    assert log.epochs_run == 6 and len(log.losses) == 6 and evaluated == []
    assert log.best_epoch == 6 and log.best_score is None and int(module.w) == 6


def test_non_finite_loss_is_a_method_error():
    with pytest.raises(MethodError, match="fake: training loss became nan in epoch 2"):
        _run(None, epochs=5, losses=[1.0, math.nan, 1.0, 1.0, 1.0])


def test_validation_evaluator():
    train, valid = checkerboard()
    build = lambda: lambda users: valid.matrix[users].toarray()  # noqa: E731  (a perfect scorer)
    assert T.validation_evaluator(build, train=train, valid=None, method="x") is None
    empty = Interactions.from_frame(valid.frame.iloc[:0], valid.n_users, valid.n_items)
    assert T.validation_evaluator(build, train=train, valid=empty, method="x") is None
    assert T.validation_evaluator(build, train=train, valid=valid, method="x")() == 1.0
    small = Interactions.from_frame(valid.frame, valid.n_users, valid.n_items + 1)
    with pytest.raises(MethodError, match="x: valid interactions have shape"):
        T.validation_evaluator(build, train=train, valid=small, method="x")

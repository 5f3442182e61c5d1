"""Progress events: one per epoch from the shared early-stopping loop (and implicit's iterations),
printed as log lines, silent when nobody listens, and never changing what is trained."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


from bench import progress
from bench.interactions import Interactions
from tests.methods.test_torch_helpers import _run


def test_train_epochs_emits_one_event_per_epoch_with_the_best_so_far():
    events: list[progress.Epoch] = []
    with progress.epochs_to(events.append):
        _, log, _ = _run([0.1, 0.3, 0.2, 0.25], epochs=10, patience=2)
    assert [e.epoch for e in events] == [1, 2, 3, 4] == list(range(1, log.epochs_run + 1))
    assert [e.score for e in events] == [0.1, 0.3, 0.2, 0.25]
    assert [(e.best_score, e.best_epoch) for e in events] == [(0.1, 1), (0.3, 2), (0.3, 2), (0.3, 2)]
    assert all(e.epochs == 10 and e.loss == 1.0 and e.method == "fake" for e in events)


def test_epochs_between_evaluations_carry_no_score():
    events: list[progress.Epoch] = []
    with progress.epochs_to(events.append):
        _run([0.1, 0.2], epochs=4, eval_every=2, patience=5)
    assert [e.score for e in events] == [None, 0.1, None, 0.2]
    assert events[2].best_score == 0.1 and events[2].best_epoch == 2


def test_no_sink_no_events_and_the_same_result():
    """Listening cannot change training: same log with and without a sink."""
    _, quiet, _ = _run([0.1, 0.3, 0.2, 0.25], epochs=10, patience=2)
    with progress.epochs_to(lambda e: None):
        _, heard, _ = _run([0.1, 0.3, 0.2, 0.25], epochs=10, patience=2)
    assert quiet == heard
    assert progress._EPOCH_SINK.get() is None  # nothing stays installed after the block


def test_printer_writes_one_line_per_epoch_to_a_log():
    out = io.StringIO()
    printer = progress.EpochPrinter("ml100k-topn/mf/0", out)
    assert not printer.bar  # a StringIO is not a terminal
    printer(progress.Epoch("mf", 12, 200, loss=0.21434, score=0.04121, best_score=0.0433, best_epoch=10))
    printer(progress.Epoch("mf", 13, 200, loss=0.2))
    first, second = out.getvalue().splitlines()
    assert first.startswith("ml100k-topn/mf/0 epoch   12/200  loss 0.2143  valid 0.0412  best 0.0433 @ 10")
    assert first.endswith(" s") and "valid" not in second


def test_printer_draws_a_bar_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    with progress.epochs_to(progress.EpochPrinter("cell", out)):
        progress.epoch(progress.Epoch("mf", 1, 4, loss=0.5))
        progress.epoch(progress.Epoch("mf", 2, 4, loss=0.4))
    text = out.getvalue()
    assert "\r" in text and "2/4" in text and "loss 0.4000" in text


def test_implicit_iterations_are_reported():
    from bench.methods import build

    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 30, 200), rng.integers(0, 20, 200)
    data = Interactions.from_frame(pd.DataFrame({"user": rows, "item": cols}).drop_duplicates(), 30, 20)
    for name in ("als", "bpr"):
        events: list[progress.Epoch] = []
        with progress.epochs_to(events.append):
            build(name, {"epochs": 3, "embedding_size": 4}).fit(data, rng=np.random.default_rng(0))
        assert [(e.method, e.epoch, e.epochs) for e in events] == [(name, i, 3) for i in (1, 2, 3)]

"""Known answer for multi-task learning: when tasks are generated from shared latent factors and the
dependent tasks have little data, sharing must beat one model per task (tests/mtl_fixtures.py).

In :func:`tests.mtl_fixtures.synthetic_mtl` every task is driven by the same affinity
``s = a_u + b_i + 0.5 <z_u, z_i>``; ``like`` and ``rating`` are observed only on the ~35 % clicked
impressions (~750 training rows for 120 users and 80 items), ``click`` on all ~2,100. A shared
representation learns ``s`` from the clicks and reuses it, so ``shared_bottom`` and ``mmoe`` must beat
``single_task`` on like AUC by > 0.1 and on delta_m by > 5 % (observed: about +0.25 and +12 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import methods
from bench.evaluate import evaluate_mtl
from bench.report.mtl import delta_m
from tests.mtl_fixtures import synthetic_mtl

SETTINGS = {"batch_size": 128, "patience": 5, "device": "cpu", "num_threads": 1}


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    train, valid, test = synthetic_mtl(seed=0)
    rows = {}
    for name in ("single_task", "shared_bottom", "mmoe"):
        model = methods.build(name, SETTINGS).fit(train, rng=np.random.default_rng(0), valid=valid)
        rows[name] = evaluate_mtl(test, model.predict(test.features_only()))[1]
    return pd.DataFrame(rows).T


@pytest.mark.parametrize("shared", ["shared_bottom", "mmoe"])
def test_sharing_beats_single_task(results, shared):
    single = results.loc["single_task"]
    assert results.loc[shared, "like_auc"] > single["like_auc"] + 0.1
    assert results.loc[shared, "rating_rmse"] < single["rating_rmse"]
    assert delta_m(results).loc[shared] > 5.0


def test_single_task_is_not_a_straw_man(results):
    """The control learns the plentiful task as well as the shared models do (click AUC within 0.02)."""
    assert results.loc["single_task", "click_auc"] > 0.85
    assert abs(results.loc["single_task", "click_auc"] - results.loc["shared_bottom", "click_auc"]) < 0.02

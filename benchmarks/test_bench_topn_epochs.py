"""Training speed of the ML-1M top-N torch baselines: ONE epoch of ``multvae`` and of ``mf`` on the
``ml1m-topn`` training part (leave-last-out, ratings >= 4: 6,040 users x 3,706 items, 563,211 interactions), one
thread, default configuration, no validation.

``multvae`` runs twice in the same session: as committed (the encoder's first layer is a sparse
product over the ~2.5 % non-zero inputs) and with that one product made dense (the same sparse
input densified, then ``x @ W1``: every other operation, the RNG stream and the parameters
unchanged, so the input building and the transpose still run). The ratio of the two is the gain of
the sparse product alone on this machine; the dense code before it (commit 461561b, a dense input
row through ``torch.nn.Linear``) skipped that input building as well, so against it the gain is a
little smaller.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_topn_epochs.py --benchmark-only -s``
(not part of ``make test``). Needs ``ml-1m`` in the offline mirror (``RECX_DATA_MIRROR``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bench import methods
from bench.config import TopNScenario

_SECONDS: dict[str, float] = {}


@pytest.fixture(scope="module")
def ml1m_train(ml1m_prepared, tmp_path_factory):
    from bench.splits.build import build_split

    scenario = TopNScenario(name="ml1m-topn", dataset="ml-1m", split="leave_last_out", min_rating=4.0)
    return build_split(scenario, prepared=ml1m_prepared, out=tmp_path_factory.mktemp("s") / "split").interactions("train")


def _dense_first_layer(self, x, x_t=None):
    """``methods.multvae._VAE.encode`` with the first layer as a dense product."""
    h = self.enc2(torch.tanh(x.to_dense() @ self.enc1_weight + self.enc1_bias))
    return h[:, : self.latent], h[:, self.latent :]


@pytest.mark.parametrize("variant", ["multvae", "multvae-dense-first-layer", "mf"])
def test_one_epoch_ml1m(benchmark, ml1m_train, monkeypatch, variant):
    name = variant.split("-")[0]
    if variant.endswith("dense-first-layer"):
        from methods import multvae

        monkeypatch.setattr(multvae._VAE, "encode", _dense_first_layer)
    model = methods.build(name, {"epochs": 1, "num_threads": 1})
    benchmark.extra_info.update(interactions=int(ml1m_train.nnz), load_avg_1min=os.getloadavg()[0])
    benchmark.pedantic(lambda: model.fit(ml1m_train, rng=np.random.default_rng(0), valid=None),
                       rounds=3, iterations=1)
    assert model.training_log_.epochs_run == 1
    _SECONDS[variant] = benchmark.stats.stats.min
    if {"multvae", "multvae-dense-first-layer"} <= set(_SECONDS):
        ratio = _SECONDS["multvae-dense-first-layer"] / _SECONDS["multvae"]
        benchmark.extra_info["sparse_speedup"] = ratio
        print(f"\nmultvae epoch: sparse first layer {_SECONDS['multvae']:.2f} s, dense "
              f"{_SECONDS['multvae-dense-first-layer']:.2f} s: {ratio:.2f}x")

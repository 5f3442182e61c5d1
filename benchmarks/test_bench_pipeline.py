"""Speed of the data stages and of every top-N method's fit on ML-100K.

Run: ``make bench`` or ``.venv/bin/python -m pytest benchmarks/test_bench_pipeline.py
--benchmark-only`` (needs the mirror: ``RECX_DATA_MIRROR``, default ``../shared/datasets``). Results go
to ``benchmarks/results.json`` with ``make bench`` so changes can be compared
(``pytest-benchmark compare``). Fit benchmarks use the default profile's ``ml100k-topn`` split
(leave-last-out, ratings >= 4) and each method's default config; the peak RSS of the process and
the torch thread count are recorded in ``extra_info``.
"""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

from bench import methods
from bench.config import TopNScenario
from bench.splits.build import build_split
from benchmarks.conftest import REPO, mirror

SCENARIO = TopNScenario(name="ml100k-topn", dataset="ml-100k", split="leave_last_out", min_rating=4.0)


def test_fetch_prepare_split_ml100k(benchmark, tmp_path):
    """The three data stages end to end, from the mirror copy to an audited split."""
    from bench.data.fetch import fetch_dataset
    from bench.data.prepare import PrepareOptions, prepare_dataset

    def stages(i=[0]):  # noqa: B006 - a fresh folder per round
        i[0] += 1
        root = tmp_path / str(i[0])
        fetch_dataset("ml-100k", sources=REPO / "datasets/sources.yaml", out=root / "raw",
                      mirror=mirror(), progress=False)
        prepare_dataset("ml-100k", sources=REPO / "datasets/sources.yaml", raw=root / "raw",
                        out=root / "prepared", options=PrepareOptions())
        return build_split(SCENARIO, prepared=root / "prepared", out=root / "split")

    split = benchmark.pedantic(stages, rounds=3, iterations=1)
    assert len(split.test) > 900


@pytest.fixture(scope="module")
def split(ml100k_prepared, tmp_path_factory):
    return build_split(SCENARIO, prepared=ml100k_prepared, out=tmp_path_factory.mktemp("s") / "split")


@pytest.mark.parametrize("name", methods.available("topn"))
def test_fit_ml100k(benchmark, split, name):
    train, valid = split.interactions("train"), split.interactions("valid")

    def fit():
        return methods.build(name).fit(train, rng=np.random.default_rng(0), valid=valid)

    model = benchmark.pedantic(fit, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update(
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        torch_threads=torch.get_num_threads(),
    )
    scores = model.score(np.arange(10))
    assert np.isfinite(scores).all()

"""Wall time and peak memory of prepare -> split -> ALS -> full-ranking evaluation at ML-20M size.

    .venv/bin/python benchmarks/large_data.py                      # the ML-20M shape (20M rows)
    .venv/bin/python benchmarks/large_data.py --rows 500000 --users 5000 --items 3000
    .venv/bin/python benchmarks/large_data.py --keep /work/scratch-large --out /tmp/large.json

ML-20M itself is not in the offline mirror, so the data are generated: a synthetic interaction table
of the ML-20M shape (138,493 users, 26,744 rated items, 20,000,263 ratings) written as the release's
``ratings.csv`` + ``movies.csv`` (header ``userId,movieId,rating,timestamp``, rows ordered by user,
then movieId, like the real file), declared in a scratch ``sources.yaml`` with their sha256 pinned
and parsed by the REAL ``movielens-csv`` parser. Then the library functions the DVC stages call run
on it, unchanged, each stage in its own process:

* ``prepare`` — :func:`bench.data.prepare.prepare_dataset` (``kcore: 0``): digest check, Arrow CSV
  read, row validation, id maps, de-duplication, Parquet tables;
* ``split`` — :func:`bench.splits.build.build_split` of a top-N scenario (``leave_last_out``,
  ``min_rating: 4.0``, as ``ml1m-topn``): positives, split, leakage audit, Parquet + manifest;
* ``als`` — ``methods/implicit_mf.py``'s ``als`` with ``params.yaml: methods.als``, fitted through
  :func:`bench.fitting.fit_method` on ``split.interactions("train")`` as the run stage does
  (:func:`bench.cells.topn.run_topn`); the fitted model is pickled for the next stage;
* ``evaluate`` — :func:`bench.evaluate.ranking.evaluate_holdout` with ``params.yaml: evaluation``
  (every test user ranks all items in batches of ``batch_size``, train and valid items excluded,
  top 100 kept, six metrics at 5/10/20, ARP, coverage), as ``run_topn`` calls it after the fit;
* ``ease`` — ``methods/ease.py``'s fit, only where its estimated peak (three dense
  ``n_items x n_items`` float64 matrices, see :func:`ease_estimate_bytes`) fits ``--budget-gb``;
  at the ML-20M shape it is 16.0 GiB, so it is skipped and the JSON says why.

The real run stage fits and evaluates in ONE process (``run_topn``); here they are two, so each
gets its own peak. The run cell's peak is about ``max(als, evaluate)`` plus the fitted factors
(42 MB at ML-20M size): both processes read the same split and build the same matrices.

Generation (the ``generate`` stage, also its own process) works in chunks of about
``CHUNK_ROWS`` ratings with one seeded ``numpy.random.Generator``; nothing is ever held per row in
Python objects. Its model of the data:

* user activity: 20 ratings each (MovieLens' minimum) plus a log-normal share of the rest
  (sigma ``USER_SIGMA``), capped at ``USER_CAP`` of the catalogue (ML-20M's most active user rated
  35 %), summing exactly to ``--rows``;
* item popularity: log-normal weights (sigma ``ITEM_SIGMA``) assigned to random movieIds drawn from
  1..131,262 (ML-20M's id range); each user's items are a weighted sample WITHOUT replacement
  (successive sampling: with-replacement draws, first occurrences kept; exponential race for users
  with more than 1/8 of the catalogue), and every item is given to at least one user, so exactly
  ``--items`` items are rated;
* ratings 0.5..5 in half steps, i.i.d. from ML-20M's marginal distribution (:data:`RATING_SHARES`,
  50.0 % >= 4);
* timestamps strictly increasing along each user's sampling order (popular items tend to come
  first, as in MovieLens' on-boarding), gaps of ~1 min within a session and ~2 weeks between
  sessions, inside ML-20M's 1995-01-09 .. 2015-03-31.

The realised skew (share of ratings on the top 1 % of items, activity quantiles) is recorded.

Peak RSS: each stage runs in a child process (``python benchmarks/large_data.py --stage NAME``)
and its peak is the kernel's high-water mark of that process (``ru_maxrss`` from ``os.wait4``):
the whole process, interpreter and imports included (their RSS before the stage's work is recorded
as ``rss_before_mb``). The parent also samples the child's RSS with psutil every 0.1 s
(``peak_rss_sampled_mb``, a check, normally a little below the high-water mark).

Results go to ``benchmarks/results/large-data.json`` (``--out``): per stage wall seconds (the
library call, timed inside the child) and process seconds (imports included), peak RSS, what the
stage produced; sizes, machine, commit, the 8 GB budget of issue 19 and whether every stage kept
it. A table is printed. Not part of ``make test`` (``benchmarks/test_bench_large_data.py`` runs it
at 20,000 rows under ``--benchmark-only``); the full size should take about five minutes on two
cores (extrapolated from 4M rows: ~40 s per stage) and about 1 GB of scratch disk (``--keep DIR``
keeps the files; default a temporary folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: the ML-20M shape (``datasets/sources.yaml: ml-20m.expected``)
ML20M = {"rows": 20_000_263, "users": 138_493, "items": 26_744}
#: issue 19: "runs the 20M-row synthetic set end to end within 8 GB peak RSS"
BUDGET_GB = 8.0
DATASET = "synthetic-ml20m"
SCENARIO = {"split": "leave_last_out", "min_rating": 4.0}
STAGES = ("generate", "prepare", "split", "als", "evaluate", "ease")

# -- the generator's model ------------------------------------------------------------------------
MIN_PER_USER = 20
USER_SIGMA = 1.38  # log-normal activity: ML-20M's median 68 and mean 144 with the minimum of 20
USER_CAP = 0.35  # most active ML-20M user: 9,254 of 26,744 rated items
ITEM_SIGMA = 1.85  # log-normal popularity: ~25 % of ratings on the top 1 % of items at ML-20M shape
MAX_MOVIE_ID = 131_262  # ML-20M's largest movieId
RATING_VALUES = ("0.5", "1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0")
#: ML-20M's ratings per value, 0.5 .. 5.0 (they add up to its 20,000,263 rows)
RATING_COUNTS = (239_125, 680_732, 279_252, 1_430_997, 883_398, 4_291_193, 2_200_156, 5_561_926,
                 1_534_824, 2_898_660)
T_FIRST, T_LAST = 789_652_009, 1_427_784_002  # ML-20M's first and last timestamp
SESSION_GAP_S, BREAK_GAP_S, BREAK_P = 60.0, 14 * 86_400.0, 0.02
CHUNK_ROWS = 1_000_000  # ratings generated and written per chunk


# ============================================================================ generation
def user_activity(rows: int, users: int, items: int, rng) -> Any:
    """Ratings per user (int64, summing exactly to ``rows``): the minimum plus a capped log-normal
    share."""
    import numpy as np

    low = min(MIN_PER_USER, items)
    cap = max(low, min(items, int(np.ceil(USER_CAP * items))))
    if rows < low * users or rows > cap * users:
        raise SystemExit(
            f"--rows {rows} does not fit {users} users with {low}..{cap} ratings each "
            f"({low * users}..{cap * users}); change --rows, --users or --items"
        )
    weight = rng.lognormal(0.0, USER_SIGMA, users)
    share = np.zeros(users)
    free = np.ones(users, dtype=bool)
    rest = float(rows - low * users)
    while True:  # proportional shares, capped users fixed at the cap and the rest re-shared
        share[free] = rest * weight[free] / weight[free].sum()
        over = free & (share > cap - low)
        if not over.any():
            break
        share[over] = cap - low
        free &= ~over
        rest = float(rows - low * users - share[~free].sum())
    extra = np.floor(share).astype(np.int64)
    short = rows - low * users - int(extra.sum())  # largest remainders get one more
    room = np.flatnonzero(extra < cap - low)
    frac = (share - extra)[room]
    extra[room[np.argsort(-frac, kind="stable")[:short]]] += 1
    return low + extra


def forced_users(n: Any, items: int, rng) -> Any:
    """One user per item who must rate it (so every item is rated), drawn by activity; no user gets
    more forced items than ratings."""
    import numpy as np

    owner = rng.choice(n.size, size=items, p=n / n.sum())
    for _ in range(100):
        load = np.bincount(owner, minlength=n.size)
        if (load <= n).all():
            return owner
        for u in np.flatnonzero(load > n):  # reassign the excess to users with room (rare)
            mine = np.flatnonzero(owner == u)[n[u]:]
            room = np.flatnonzero(np.bincount(owner, minlength=n.size) < n)
            owner[mine] = rng.choice(room, size=mine.size)
    raise SystemExit("cannot give every item a rating; lower --items or raise --rows")


def sample_chunk(n: Any, forced_item: Any, forced_user: Any, cdf: Any, log_w: Any, rng):
    """Items of a chunk of users (``n`` ratings each), weighted, without replacement.

    Returns ``(user, item, order)``: local user index, item index, and each rating's position in
    the user's rating sequence (a float; only its order per user matters)."""
    import numpy as np

    n_items = cdf.size
    b = n.size
    f_count = np.bincount(forced_user, minlength=b)
    heavy = n > max(n_items // 8, MIN_PER_USER)
    parts = []
    # light users: successive sampling = first occurrences of with-replacement draws
    light = np.flatnonzero(~heavy)
    if light.size:
        fsel = ~heavy[forced_user]
        users = [forced_user[fsel].astype(np.int64)]
        items = [forced_item[fsel].astype(np.int64)]
        seqs = [np.full(int(fsel.sum()), -1, dtype=np.int64)]
        have = np.zeros(b, dtype=np.int64)
        have[light] = f_count[light]
        pending, next_seq = light, 0
        for _ in range(60):
            m = np.ceil(1.3 * (n[pending] - have[pending])).astype(np.int64) + 4
            u = np.repeat(pending, m)
            it = np.minimum(np.searchsorted(cdf, rng.random(u.size), side="right"), n_items - 1)
            users.append(u)
            items.append(it)
            seqs.append(np.arange(next_seq, next_seq + u.size, dtype=np.int64))
            next_seq += u.size
            uu, ii, ss = np.concatenate(users), np.concatenate(items), np.concatenate(seqs)
            key = uu * n_items + ii
            order = np.lexsort((ss, key))
            k = key[order]
            first = order[np.r_[True, k[1:] != k[:-1]]]
            users, items, seqs = [uu[first]], [ii[first]], [ss[first]]
            have[light] = np.bincount(uu[first], minlength=b)[light]
            pending = light[have[light] < n[light]]
            if not pending.size:
                break
        else:
            heavy[pending] = True  # exact fallback below for the few that never completed
        uu, ii, ss = users[0], items[0], seqs[0]
        keep = ~heavy[uu]
        uu, ii, ss = uu[keep], ii[keep], ss[keep]
        order = np.lexsort((ss, uu))
        uu, ii, ss = uu[order], ii[order], ss[order]
        start = np.searchsorted(uu, np.arange(b))
        rank = np.arange(uu.size) - start[uu]
        keep = rank < n[uu]
        uu, ii, rank = uu[keep], ii[keep], rank[keep]
        parts.append((uu, ii, _order(rank, f_count[uu], ss[keep] < 0, n[uu], rng)))
    # heavy users: exponential race over the whole catalogue (exact; few users)
    for u in np.flatnonzero(heavy):
        key = np.log(rng.standard_exponential(n_items)) - log_w
        mine = forced_item[forced_user == u]
        key[mine] = -np.inf
        chosen = np.argpartition(key, n[u] - 1)[: n[u]]
        chosen = chosen[np.argsort(key[chosen], kind="stable")]
        is_forced = np.isneginf(key[chosen])
        rank = np.arange(chosen.size)
        uu = np.full(chosen.size, u, dtype=np.int64)
        parts.append((uu, chosen.astype(np.int64), _order(rank, mine.size, is_forced, n[u], rng)))
    user = np.concatenate([p[0] for p in parts])
    item = np.concatenate([p[1] for p in parts])
    order = np.concatenate([p[2] for p in parts])
    return user, item, order


def _order(rank: Any, n_forced: Any, is_forced: Any, n_total: Any, rng) -> Any:
    """Sequence positions: drawn items in draw order, forced items at random places among them
    (``rank``: the item's rank in the user's selection, forced ones first; the other arguments per
    row or scalars)."""
    import numpy as np

    pos = (rank - n_forced).astype(np.float64)  # drawn items: 0, 1, ... after the forced ones
    n_drawn = np.broadcast_to(np.maximum(n_total - n_forced, 1), rank.shape)
    pos[is_forced] = rng.random(int(is_forced.sum())) * n_drawn[is_forced] - 0.5
    return pos


def timestamps(user: Any, n: Any, rng) -> Any:
    """Strictly increasing Unix seconds along each user's sequence (``user``: rows sorted by user,
    then sequence position; ``n``: rows per user)."""
    import numpy as np

    gaps = np.where(
        rng.random(user.size) < BREAK_P,
        rng.exponential(BREAK_GAP_S, user.size),
        rng.exponential(SESSION_GAP_S, user.size),
    ).astype(np.int64) + 1
    start = np.searchsorted(user, np.arange(n.size))
    gaps[start[n > 0]] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[start][user]
    span = elapsed[start + n - 1]
    room = T_LAST - T_FIRST
    squeeze = span > room - n  # compress the gaps of a user who would outlast the range (rare)
    if squeeze.any():
        rank = np.arange(user.size) - start[user]
        scale = np.where(squeeze, (room - n) / np.maximum(span, 1), 1.0)[user]
        squeezed = np.floor(elapsed * scale).astype(np.int64) + rank
        elapsed = np.where(squeeze[user], squeezed, elapsed)
        span = elapsed[start + n - 1]
    first = T_FIRST + (rng.random(n.size) * np.maximum(room - span, 0)).astype(np.int64)
    return first[user] + elapsed


def generate(scratch: Path, rows: int, users: int, items: int, seed: int) -> dict[str, Any]:
    """Write ``raw/ratings.csv``, ``raw/movies.csv`` and ``sources.yaml`` into ``scratch``."""
    import hashlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import yaml

    if items > rows:
        raise SystemExit(f"--items {items} > --rows {rows}: every item needs a rating")
    rng = np.random.default_rng(seed)
    n = user_activity(rows, users, items, rng)
    movie_id = (np.sort(rng.choice(MAX_MOVIE_ID, size=items, replace=False)) + 1
                if items <= MAX_MOVIE_ID else np.arange(1, items + 1))
    log_w = rng.normal(0.0, ITEM_SIGMA, items)
    cdf = np.cumsum(np.exp(log_w - log_w.max()))
    cdf /= cdf[-1]
    owner = forced_users(n, items, rng)
    by_owner = np.argsort(owner, kind="stable")
    owner_sorted = owner[by_owner]
    shares = np.asarray(RATING_COUNTS, dtype=np.float64) / sum(RATING_COUNTS)
    labels = pa.array(RATING_VALUES)
    raw = scratch / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256()
    item_count = np.zeros(items, dtype=np.int64)
    rating_count = np.zeros(len(RATING_VALUES), dtype=np.int64)
    bounds = np.searchsorted(np.cumsum(n), np.arange(CHUNK_ROWS, rows, CHUNK_ROWS), side="right")
    bounds = np.unique(np.r_[0, bounds, users])
    written = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(raw / "ratings.csv", "wb") as fh:
        header = b"userId,movieId,rating,timestamp\n"
        fh.write(header)
        sha.update(header)
        for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            a, z = np.searchsorted(owner_sorted, [lo, hi])
            f_items, f_users = by_owner[a:z], owner_sorted[a:z] - lo
            user, item, order = sample_chunk(n[lo:hi], f_items, f_users, cdf, log_w, rng)
            seq = np.lexsort((order, user))
            user, item = user[seq], item[seq]
            ts = timestamps(user, n[lo:hi], rng)
            rating = rng.choice(len(RATING_VALUES), size=user.size, p=shares).astype(np.int8)
            out = np.lexsort((movie_id[item], user))  # the file's order: user, then movieId
            table = pa.table({
                "userId": pa.array((user[out] + lo + 1).astype(np.int32)),
                "movieId": pa.array(movie_id[item[out]].astype(np.int32)),
                "rating": labels.take(pa.array(rating[out])),
                "timestamp": pa.array(ts[out]),
            })
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, options)
            block = sink.getvalue()
            fh.write(block)
            sha.update(block)
            item_count += np.bincount(item, minlength=items)
            rating_count += np.bincount(rating, minlength=len(RATING_VALUES))
            written += user.size
            _say(f"generate: chunk {c + 1}/{bounds.size - 1}, {written:,}/{rows:,} ratings")
    if written != rows or (item_count == 0).any():
        unrated = int((item_count == 0).sum())
        raise AssertionError(f"generated {written} of {rows} rows, {unrated} unrated items")
    ratings_sha = sha.hexdigest()
    genres = np.array(["Action", "Comedy", "Drama", "Romance", "Thriller", "Sci-Fi"], dtype=object)
    year = rng.integers(1915, 2015, items)
    movies = "movieId,title,genres\n" + "".join(
        f"{m},Synthetic movie {m} ({y}),{g}\n"
        for m, y, g in zip(movie_id.tolist(), year.tolist(), genres[rng.integers(0, 6, items)],
                           strict=True)
    )
    (raw / "movies.csv").write_text(movies, encoding="utf-8")
    movies_sha = hashlib.sha256(movies.encode()).hexdigest()
    _write_sources(scratch / "sources.yaml", rows, users, items, ratings_sha,
                   (raw / "ratings.csv").stat().st_size, movies_sha, yaml)
    top = np.sort(item_count)[::-1]
    n_top = max(1, int(round(0.01 * items)))
    return {
        "ratings_csv_bytes": (raw / "ratings.csv").stat().st_size,
        "ratings_csv_sha256": ratings_sha,
        "chunks": int(bounds.size - 1),
        "top1pct_items_share": round(float(top[:n_top].sum() / rows), 4),
        "top_item_ratings": int(top[0]),
        "items_with_one_rating": int((item_count == 1).sum()),
        "user_ratings": {
            "min": int(n.min()), "median": float(np.median(n)), "mean": round(float(n.mean()), 1),
            "max": int(n.max()),
        },
        "rating_share_ge_4": round(float(rating_count[7:].sum() / rows), 4),
        "model": {
            "user_sigma": USER_SIGMA, "user_cap": USER_CAP, "item_sigma": ITEM_SIGMA,
            "min_per_user": MIN_PER_USER, "seed": seed,
        },
    }


def _write_sources(path: Path, rows, users, items, ratings_sha, ratings_bytes, movies_sha, yaml):
    """A ``sources.yaml`` declaring the synthetic release with its files' digests pinned."""
    entry = {
        "title": "Synthetic ML-20M-shaped ratings (benchmarks/large_data.py)",
        "parser": "movielens-csv",
        "size": f"{rows:,} ratings, {users:,} users, {items:,} rated items",
        "licence": "Generated data, no licence conditions.",
        "citation": "Generated by benchmarks/large_data.py of recxbench.",
        # never fetched: the files are written into the raw folder (.invalid never resolves)
        "base_url": "https://example.invalid/recx-synthetic/",
        "rating_scale": {"min": 0.5, "max": 5.0, "step": 0.5},
        "expected": {"interactions": rows, "users": users, "items": items},
        "files": [
            {"name": "ratings.csv", "sha256": ratings_sha, "bytes": ratings_bytes},
            {"name": "movies.csv", "sha256": movies_sha},
        ],
    }
    path.write_text(yaml.safe_dump({"version": 1, "datasets": {DATASET: entry}}, sort_keys=False))


# ============================================================================ the stages
def run_stage(name: str, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One stage's work, in this process: ``{"seconds", "rss_before_mb", "details"}``."""
    import psutil

    params = None
    if name in ("als", "evaluate", "ease"):
        from bench.config import load_params

        params = load_params(REPO / "params.yaml")
    work = {
        "generate": lambda: generate(scratch, args.rows, args.users, args.items, args.seed),
        "prepare": lambda: _prepare(scratch),
        "split": lambda: _split(scratch),
        "als": lambda: _fit(scratch, params, "als"),
        "evaluate": lambda: _evaluate(scratch, params),
        "ease": lambda: _fit(scratch, params, "ease"),
    }[name]
    _import_for(name)
    before = psutil.Process().memory_info().rss / 2**20
    t0 = time.perf_counter()
    details = work()
    return {"seconds": round(time.perf_counter() - t0, 3), "rss_before_mb": round(before, 1),
            "details": details}


def _import_for(name: str) -> None:
    """Import what the stage uses before ``rss_before_mb`` is measured (interpreter + libraries)."""
    import numpy  # noqa: F401
    import pyarrow.csv  # noqa: F401

    if name == "prepare":
        import bench.data.prepare  # noqa: F401
    if name in ("split", "als", "evaluate", "ease"):
        import bench.splits.build  # noqa: F401
    if name in ("als", "evaluate"):
        import implicit.als  # noqa: F401
        import torch  # noqa: F401  (topk)

        import bench.evaluate.ranking  # noqa: F401


def _prepare(scratch: Path) -> dict[str, Any]:
    from bench.data.prepare import PrepareOptions, prepare_dataset

    data = prepare_dataset(DATASET, sources=scratch / "sources.yaml", raw=scratch / "raw",
                           out=scratch / "prepared", options=PrepareOptions(kcore=0),
                           lock=scratch / "checksums.lock")
    s = data.stats
    return {"rows_read": s["rows_read"], "rows_kept": s["rows_kept"], "n_users": s["n_users"],
            "n_items": s["n_items"], "duplicates": s["duplicates"], "expected": s["expected"],
            "parquet_bytes": _folder_bytes(scratch / "prepared")}


def _scenario():
    from bench.config import TopNScenario

    return TopNScenario(name=f"{DATASET}-topn", dataset=DATASET, **SCENARIO)


def _split(scratch: Path) -> dict[str, Any]:
    from bench.splits.build import build_split

    split = build_split(_scenario(), prepared=scratch / "prepared", out=scratch / "split")
    return {"train": len(split.train), "valid": len(split.valid), "test": len(split.test),
            "counts": split.meta["counts"], "dropped": split.meta["dropped"],
            "audit": split.meta["audit"], "parquet_bytes": _folder_bytes(scratch / "split")}


def _fit(scratch: Path, params, method: str) -> dict[str, Any]:
    import pickle

    from bench.fitting import fit_method
    from bench.splits.types import Split

    split = Split.read(scratch / "split")
    train, valid = split.interactions("train"), split.interactions("valid")
    model = params.build_method(method)
    fitted = fit_method(model, train, seed=0, valid=valid, method=method)
    if method == "als":
        with open(scratch / "als.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return {"fit_seconds": round(fitted.seconds, 2), "params": model.config.to_params(),
            "train_nnz": train.nnz, "n_users": train.n_users, "n_items": train.n_items}


def _evaluate(scratch: Path, params) -> dict[str, Any]:
    import pickle

    from bench.evaluate.ranking import evaluate_holdout
    from bench.splits.types import Split

    split = Split.read(scratch / "split")
    with open(scratch / "als.pkl", "rb") as fh:
        model = pickle.load(fh)
    train, valid, test = (split.interactions(p).matrix for p in ("train", "valid", "test"))
    result = evaluate_holdout(model, train, valid, test, params.evaluation,
                              n_users=split.n_users, method_name="als")
    summary = result.summary()
    return {"n_evaluated_users": int(result.users.size), "batch_size": params.evaluation.batch_size,
            "topk_saved": params.evaluation.topk_saved,
            "metrics": {k: round(summary[k], 5) for k in ("ndcg@10", "recall@20", "coverage@10")}}


def ease_estimate_bytes(n_items: int) -> int:
    """Peak of ``methods/ease.py``'s fit beyond the data: ``ease_weights`` holds three dense float64
    ``n_items x n_items`` matrices at once: the Gram matrix (overwritten by its Cholesky factor),
    ``P`` (``cho_solve`` of a float64 identity, in place) and ``B = P / -diag(P)``. (Afterwards
    ``fit`` holds ``B`` and its float32 copy, 12 bytes per entry; the sparse ``X^T X`` before
    ``toarray`` comes on top and is not counted.)"""
    return 3 * 8 * n_items**2


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ============================================================================ the driver
def _child(name: str, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run stage ``name`` in a child process; its result plus process seconds and peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name,
           "--scratch", str(scratch), "--rows", str(args.rows), "--users", str(args.users),
           "--items", str(args.items), "--seed", str(args.seed)]
    return run_child(cmd, scratch / f"stage-{name}.json")


def run_child(cmd: list[str], result: Path) -> dict[str, Any]:
    """Run ``cmd`` (a stage of a benchmark script) in a child process with this repository on
    ``PYTHONPATH``; the JSON it wrote to ``result`` plus status, process seconds and peak RSS (the
    kernel's high-water mark via ``os.wait4``, and a 0.1 s psutil sample as a check)."""
    import psutil

    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    watched = psutil.Process(proc.pid)
    sampled = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                sampled[0] = max(sampled[0], watched.memory_info().rss)
            except psutil.Error:
                return
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
    entry: dict[str, Any] = {
        "status": "ok" if proc.returncode == 0 else "failed",
        "process_seconds": round(time.perf_counter() - t0, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "peak_rss_sampled_mb": round(sampled[0] / 2**20, 1),
    }
    if proc.returncode == 0 and result.is_file():
        entry.update(json.loads(result.read_text()))
    else:
        entry["status"] = "failed"
        entry["error"] = (f"exit status {proc.returncode}" if proc.returncode
                          else f"no result file {result.name}")
    return entry


def _machine() -> dict[str, Any]:
    from bench.provenance import hardware

    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal:")), 0)
    return {**hardware(), "memory_gb": round(mem / 2**20, 1), "python": platform.python_version(),
            "load_avg_1min_before": round(os.getloadavg()[0], 2)}


def _table(result: dict[str, Any]) -> str:
    lines = [f"{'stage':<10} {'status':<8} {'seconds':>9} {'process s':>10} {'peak RSS MB':>12} "
             f"{'before MB':>10}"]
    for name, s in result["stages"].items():
        if s["status"] == "skipped":
            lines.append(f"{name:<10} skipped  ({s['reason'].split(';')[0]})")
            continue
        lines.append(f"{name:<10} {s['status']:<8} {s.get('seconds', float('nan')):>9.1f} "
                     f"{s['process_seconds']:>10.1f} {s['peak_rss_mb']:>12.1f} "
                     f"{s.get('rss_before_mb', float('nan')):>10.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=ML20M["rows"])
    ap.add_argument("--users", type=int, default=ML20M["users"])
    ap.add_argument("--items", type=int, default=ML20M["items"])
    ap.add_argument("--seed", type=int, default=0, help="seed of the generator")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/large-data.json")
    ap.add_argument("--keep", type=Path, help="scratch folder for the generated files, kept "
                    "(default: a temporary folder, removed at the end)")
    ap.add_argument("--budget-gb", type=float, default=BUDGET_GB,
                    help="peak-RSS budget per stage; EASE runs only if its estimate fits it")
    ap.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # the child's entry point
    ap.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.stage:
        out = run_stage(args.stage, args.scratch, args)
        (args.scratch / f"stage-{args.stage}.json").write_text(json.dumps(out, indent=2) + "\n")
        return 0

    if args.keep:
        if args.keep.exists() and any(args.keep.iterdir()):
            sys.exit(f"{args.keep} is not empty; pass an empty or new folder to --keep")
        scratch = args.keep
        scratch.mkdir(parents=True, exist_ok=True)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="recx-large-data-"))
    from bench.provenance import git_commit

    budget_mb = args.budget_gb * 1024
    sizes = {"rows": args.rows, "users": args.users, "items": args.items}
    result: dict[str, Any] = {
        "benchmark": "large-data",
        "command": " ".join(["benchmarks/large_data.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "git": git_commit(REPO),
        "machine": _machine(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": {**sizes, "ml20m_shape": sizes == ML20M},
        "scenario": SCENARIO,
        "budget_rss_mb": budget_mb,
        "rss_measure": (
            "peak_rss_mb: the kernel's high-water mark (ru_maxrss via os.wait4) of the stage's own "
            "child process, interpreter and imports included (rss_before_mb: after the imports, "
            "before the work); peak_rss_sampled_mb: psutil samples every 0.1 s, a check"),
        "stages": {},
    }
    ease_bytes = ease_estimate_bytes(args.items)
    t0 = time.perf_counter()
    ok = True
    try:
        for name in STAGES:
            if not ok:
                result["stages"][name] = {"status": "skipped", "reason": "an earlier stage failed"}
                continue
            if name == "ease" and ease_bytes / 2**20 > budget_mb:
                result["stages"][name] = {
                    "status": "skipped",
                    "reason": (f"estimated peak {ease_bytes / 2**30:.1f} GiB > budget "
                               f"{args.budget_gb:g} GiB; methods/ease.py holds three dense "
                               f"{args.items} x {args.items} float64 matrices at once (Gram/"
                               f"Cholesky factor, P, B)"),
                    "estimated_peak_bytes": ease_bytes,
                }
                continue
            _say(f"large_data: {name} ...")
            entry = _child(name, scratch, args)
            if name == "ease":
                entry["estimated_peak_bytes"] = ease_bytes
            result["stages"][name] = entry
            ok = entry["status"] == "ok"
            _say(f"large_data: {name} {entry['status']}: {entry.get('seconds', '-')} s, "
                 f"peak RSS {entry['peak_rss_mb']:.0f} MB")
    finally:
        result["total_seconds"] = round(time.perf_counter() - t0, 1)
        result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        measured = [s for s in result["stages"].values() if "peak_rss_mb" in s]
        result["peak_rss_mb"] = max((s["peak_rss_mb"] for s in measured), default=None)
        result["within_budget"] = ok and all(s["peak_rss_mb"] <= budget_mb for s in measured)
        result["scratch"] = str(scratch) if args.keep else None
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(_table(result))
    print(f"large_data: {'ok' if ok else 'FAILED'}, peak RSS {result['peak_rss_mb']} MB "
          f"(budget {budget_mb:.0f} MB: {'kept' if result['within_budget'] else 'NOT kept'}); "
          f"results in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

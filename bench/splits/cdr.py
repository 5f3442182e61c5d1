"""Cross-domain splits: ``cdr_warm`` and ``cdr_cold`` (DESIGN.md section 4).

Every split holds train / valid / test frames in the prepared dataset's user and item index (column
``domain`` kept), plus two side tables:

* ``items`` — ``item``, ``domain``, ``role`` (``source`` / ``target``), ``local``: each domain's
  catalogue = its items with at least one training interaction, numbered ``0..`` in item order
  (the local index methods see, :class:`bench.cdr.CDRData`);
* ``candidates`` — the release protocol's sampled ranking, drawn ONCE here so every method sees
  the same ones: for every test row ``row`` (its position in ``test``), slot 0 holds the positive
  and slots ``1..n_negatives`` negatives drawn uniformly WITHOUT replacement from the target
  catalogue, never an item the user has in any part (train, valid or test) of the target domain.
  (The DisenCDR code excludes only the user's training items and draws with replacement, so its
  negatives may repeat or hit the positive; ours cannot.)

Rules, per ``split``:

* ``cdr_warm / given`` (DisenCDR releases): train = the release's training rows of both domains;
  test = the release's target test rows (one per test user). The release has no validation part:
  for every target test user with >= 2 target training items one of them, drawn with ``seed``
  among items that keep another training interaction, moves to valid (the release's own rule —
  one random held-out item per user, kept only if the item stays in training). The source
  domain's release test rows are used by no part (the other direction's test; counted in meta).
* ``cdr_warm / leave_one_out``: per target user ordered by (timestamp, item): last -> test, second
  last -> valid, for users with >= 3 target interactions; all source rows in train.
* ``cdr_cold / given`` (CDRIB releases): train = the release's training rows of both domains;
  valid / test = the release's cold-start users' target rows; the source domain's valid/test rows
  (the other direction's cold users) are used by no part (counted).
* ``cdr_cold / withhold`` (EMCDR / PTUPCDR): overlapping users = users with interactions in both
  domains; ``round(beta * n_overlap)`` of them, drawn with ``seed``, lose all target rows: the first
  half (rounded down) of the draw -> valid, the rest -> test. Everything else is train.

Afterwards valid/test rows whose item is not in the target catalogue, or (cold) whose user has no
source training interaction, are dropped and counted in ``meta["dropped"]`` (no collaborative method
can score them). ``source_genres`` / ``target_genres`` derive the domains of a single-domain dataset
from the FIRST genre listed in ``items.genres`` (:func:`genre_domains`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bench.config import CDRColdScenario, CDRScenario, CDRWarmScenario
from bench.data.tables import PreparedDataset
from bench.errors import DataError, LeakageError
from bench.splits.types import Split

__all__ = [
    "audit_cdr",
    "genre_domains",
    "sample_candidates",
    "split_cdr_cold",
    "split_cdr_warm",
]

COLUMNS = ["user", "item", "rating", "timestamp", "domain"]


# ----------------------------------------------------------------------------- builders
def split_cdr_warm(data: PreparedDataset, scenario: CDRWarmScenario) -> Split:
    """Warm-start split of ``data`` (see the module docstring)."""
    frame, counts = _domain_frame(data, scenario)
    is_target = frame["domain"].to_numpy() == scenario.target
    part = np.zeros(len(frame), dtype=np.int8)  # 0 train, 1 valid, 2 test, -1 unused
    meta: dict[str, Any] = {}
    if scenario.split == "given":
        given = _given(frame, scenario)
        part[given == "test"] = 2
        part[(given == "test") & ~is_target] = -1
        part[given == "valid"] = -1  # DisenCDR releases have none; never used if present
        meta["unused_source_test_rows"] = int(((given == "test") & ~is_target).sum())
        test_users = np.unique(frame["user"].to_numpy()[part == 2])
        part[_carve_valid(frame, part, is_target, test_users, scenario.seed)] = 1
    else:
        part = _leave_one_out(frame, is_target)
    return _finish(data, scenario, frame, part, counts, meta)


def split_cdr_cold(data: PreparedDataset, scenario: CDRColdScenario) -> Split:
    """Cold-start split of ``data`` (see the module docstring)."""
    frame, counts = _domain_frame(data, scenario)
    is_target = frame["domain"].to_numpy() == scenario.target
    part = np.zeros(len(frame), dtype=np.int8)
    meta: dict[str, Any] = {}
    if scenario.split == "given":
        given = _given(frame, scenario)
        held = given != "train"
        part[held & is_target & (given == "valid")] = 1
        part[held & is_target & (given == "test")] = 2
        part[held & ~is_target] = -1
        meta["unused_source_heldout_rows"] = int((held & ~is_target).sum())
    else:
        users = frame["user"].to_numpy()
        overlap = np.intersect1d(np.unique(users[is_target]), np.unique(users[~is_target]))
        rng = np.random.default_rng([scenario.seed, 3])
        n_cold = int(round(scenario.beta * overlap.size))
        if n_cold < 2:
            raise DataError(
                f"scenario {scenario.name!r}: beta={scenario.beta} of {overlap.size} overlapping "
                f"users gives {n_cold} cold users; need at least 2 (one valid, one test)"
            )
        drawn = rng.permutation(overlap)[:n_cold]
        valid_users, test_users = drawn[: n_cold // 2], drawn[n_cold // 2 :]
        part[is_target & np.isin(users, valid_users)] = 1
        part[is_target & np.isin(users, test_users)] = 2
        meta["overlap_users"] = int(overlap.size)
        meta["cold_users_drawn"] = {"valid": int(valid_users.size), "test": int(test_users.size)}
    return _finish(data, scenario, frame, part, counts, meta)


# ----------------------------------------------------------------------------- domains
def genre_domains(
    data: PreparedDataset, source: str, target: str, source_genres: tuple[str, ...],
    target_genres: tuple[str, ...],
) -> tuple[pd.Series, dict[str, int]]:
    """Per item (index: item id) the domain name from its FIRST listed genre, or NA when that genre
    is in neither group; plus counts of items per domain and dropped."""
    if "genres" not in data.items.columns:
        raise DataError(
            f"dataset {data.name!r} has no items.genres column; source_genres/target_genres "
            "need one (MovieLens datasets have it)"
        )
    first = data.items["genres"].fillna("").astype(str).str.split("|").str[0]
    domain = pd.Series(pd.NA, index=data.items["item"].to_numpy(), dtype="string")
    domain[first.isin(source_genres).to_numpy()] = source
    domain[first.isin(target_genres).to_numpy()] = target
    counts = {
        f"items_{source}": int((domain == source).sum()),
        f"items_{target}": int((domain == target).sum()),
        "items_in_neither_group": int(domain.isna().sum()),
    }
    return domain, counts


def _domain_frame(data: PreparedDataset, s: CDRScenario) -> tuple[pd.DataFrame, dict[str, int]]:
    """The interactions of the two domains (domain column set), min_rating applied, one row per
    (user, item) (the latest kept)."""
    cols = COLUMNS + (["given_split"] if "given_split" in data.interactions.columns else [])
    frame = data.interactions[cols].copy()
    counts: dict[str, Any] = {"prepared_rows": len(frame)}
    if s.source_genres:
        domain, item_counts = genre_domains(
            data, s.source, s.target, s.source_genres, s.target_genres
        )
        frame["domain"] = domain.loc[frame["item"].to_numpy()].to_numpy()
        counts.update(item_counts)
    present = sorted(pd.unique(frame["domain"].dropna().astype(str)))
    for role, name in (("source", s.source), ("target", s.target)):
        if name not in present:
            raise DataError(
                f"scenario {s.name!r}: {role} domain {name!r} does not occur in dataset "
                f"{data.name!r}; its domains are {present}"
            )
    keep = frame["domain"].isin([s.source, s.target]).to_numpy()
    counts["other_domain_rows"] = int((~keep).sum())
    frame = frame[keep]
    if s.min_rating is not None:
        ok = frame["rating"].to_numpy() >= s.min_rating
        counts["below_min_rating"] = int((~ok).sum())
        frame = frame[ok]
    frame = frame.sort_values(["user", "item", "timestamp"], kind="stable")
    dup = frame.duplicated(["user", "item"], keep="last")
    counts["duplicate_pairs"] = int(dup.sum())
    frame = frame[~dup].reset_index(drop=True)
    frame["domain"] = frame["domain"].astype(str)
    counts["rows"] = len(frame)
    return frame, counts


def _given(frame: pd.DataFrame, s: CDRScenario) -> np.ndarray:
    if "given_split" not in frame.columns:
        own = "leave_one_out" if s.kind == "cdr_warm" else "withhold"
        raise DataError(
            f"scenario {s.name!r}: split: given needs a release partition (column given_split), "
            f"but the dataset has none; use split: {own}"
        )
    return frame["given_split"].astype(str).to_numpy()


# ----------------------------------------------------------------------------- partition rules
def _carve_valid(
    frame: pd.DataFrame, part: np.ndarray, is_target: np.ndarray, users: np.ndarray, seed: int
) -> np.ndarray:
    """Row positions moved to valid: per user in ``users`` one target training row drawn at random
    among rows whose item keeps another training interaction, if the user has >= 2 target training
    rows. Vectorised: one random priority per row, the best eligible row per user wins."""
    rng = np.random.default_rng([seed, 1])
    train_t = (part == 0) & is_target
    u = frame["user"].to_numpy()
    it = frame["item"].to_numpy()
    item_count = np.bincount(it[train_t], minlength=int(it.max()) + 1 if len(it) else 0)
    user_count = np.bincount(u[train_t], minlength=int(u.max()) + 1 if len(u) else 0)
    eligible = train_t & np.isin(u, users) & (item_count[it] >= 2) & (user_count[u] >= 2)
    idx = np.flatnonzero(eligible)
    if idx.size == 0:
        return idx
    priority = rng.random(idx.size)
    order = np.lexsort((-priority, u[idx]))  # per user, highest priority first
    first = np.r_[True, u[idx][order][1:] != u[idx][order][:-1]]
    chosen = idx[order][first]
    # two users may pick the same item: keep the item in train at least once
    chosen_items = it[chosen]
    taken = np.zeros_like(item_count)
    np.add.at(taken, chosen_items, 1)
    ok = taken[chosen_items] < item_count[chosen_items]
    if not ok.all():  # rare: drop, in a fixed order, choices that would empty an item
        keep = np.ones(chosen.size, dtype=bool)
        remaining = item_count.copy()
        for pos in np.flatnonzero(~ok):
            if remaining[chosen_items[pos]] <= 1:
                keep[pos] = False
            else:
                remaining[chosen_items[pos]] -= 1
        chosen = chosen[keep]
    return chosen


def _leave_one_out(frame: pd.DataFrame, is_target: np.ndarray) -> np.ndarray:
    """Part per row: target users with >= 3 target rows, by (timestamp, item): last -> 2, second
    last -> 1; everything else 0."""
    part = np.zeros(len(frame), dtype=np.int8)
    t = frame[is_target]
    order = t.sort_values(["user", "timestamp", "item"], kind="stable").index.to_numpy()
    ordered = frame.loc[order]
    from_end = ordered.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    size = ordered.groupby("user", sort=False)["item"].transform("size").to_numpy()
    sub = np.where(size < 3, 0, np.where(from_end == 0, 2, np.where(from_end == 1, 1, 0)))
    part[order] = sub
    return part


# ----------------------------------------------------------------------------- finishing
def _finish(
    data: PreparedDataset, s: CDRScenario, frame: pd.DataFrame, part: np.ndarray,
    counts: dict[str, Any], meta: dict[str, Any],
) -> Split:
    """The common end of every CDR split: evaluation rows restricted to what a method can score,
    the per-domain catalogues, the saved candidates and the meta."""
    train = frame[part == 0]
    train_domain = train["domain"].to_numpy()
    catalogue = {
        d: np.unique(train["item"].to_numpy()[train_domain == d]) for d in (s.source, s.target)
    }
    users = {
        d: np.unique(train["user"].to_numpy()[train_domain == d]) for d in (s.source, s.target)
    }
    dropped: dict[str, int] = {"unused_rows": int((part == -1).sum())}
    parts = _evaluation_parts(s, frame, part, catalogue[s.target], users, dropped)
    if len(parts["test"]) == 0 or len(train) == 0:
        raise DataError(
            f"scenario {s.name!r}: the split leaves {len(train)} train and {len(parts['test'])} "
            "test interactions; check the domains and settings"
        )
    known = pd.concat([train[train["domain"] == s.target], parts["valid"], parts["test"]])
    candidates = sample_candidates(
        parts["test"],
        known,
        catalogue[s.target],
        s.n_negatives,
        np.random.default_rng([s.seed, 2]),
        where=f"scenario {s.name!r}",
    )
    meta.update(_meta(data, s, counts, dropped, catalogue, users, parts))
    return Split(
        name=s.name,
        train=train.drop(columns=["given_split"], errors="ignore").reset_index(drop=True),
        valid=parts["valid"].drop(columns=["given_split"], errors="ignore"),
        test=parts["test"].drop(columns=["given_split"], errors="ignore"),
        n_users=data.n_users,
        n_items=data.n_items,
        meta=meta,
        side={"items": _items_table(s, catalogue), "candidates": candidates},
    )


def _evaluation_parts(s: CDRScenario, frame, part, target_catalogue, users, dropped) -> dict[str, pd.DataFrame]:
    """Valid and test target rows whose item is in the target training catalogue and whose user a
    method can score (cold: has source training rows; warm: has target training rows); what is
    dropped is counted in ``dropped``."""
    is_target = frame["domain"].to_numpy() == s.target
    parts = {}
    for code, name in ((1, "valid"), (2, "test")):
        rows = frame[(part == code) & is_target]
        known_item = rows["item"].isin(target_catalogue).to_numpy()
        dropped[f"{name}_item_not_in_target_train"] = int((~known_item).sum())
        rows = rows[known_item]
        if s.kind == "cdr_cold":
            known_user = rows["user"].isin(users[s.source]).to_numpy()
            dropped[f"{name}_user_without_source"] = int((~known_user).sum())
        else:
            known_user = rows["user"].isin(users[s.target]).to_numpy()
            dropped[f"{name}_user_without_target_train"] = int((~known_user).sum())
        parts[name] = rows[known_user].reset_index(drop=True)
    return parts


def _items_table(s: CDRScenario, catalogue) -> pd.DataFrame:
    """Global item id -> domain, role (source / target) and domain-local index."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "item": catalogue[d],
                    "domain": d,
                    "role": role,
                    "local": np.arange(catalogue[d].size),
                }
            )
            for d, role in ((s.source, "source"), (s.target, "target"))
        ],
        ignore_index=True,
    ).astype({"item": np.int64, "local": np.int64})


def _meta(data, s: CDRScenario, counts, dropped, catalogue, users, parts) -> dict[str, Any]:
    source_users, target_users = users[s.source], users[s.target]
    return dict(
        kind=s.kind,
        split=s.split,
        dataset=data.name,
        source=s.source,
        target=s.target,
        counts=counts,
        dropped=dropped,
        catalogue={
            "source_items": int(catalogue[s.source].size),
            "target_items": int(catalogue[s.target].size),
        },
        users={
            "source_train": int(source_users.size),
            "target_train": int(target_users.size),
            "overlap_train": int(np.intersect1d(source_users, target_users).size),
            "valid": int(parts["valid"]["user"].nunique()),
            "test": int(parts["test"]["user"].nunique()),
        },
        settings={
            "source_genres": list(s.source_genres),
            "target_genres": list(s.target_genres),
            "min_rating": s.min_rating,
            "n_negatives": s.n_negatives,
            "seed": s.seed,
            **({"beta": s.beta} if s.kind == "cdr_cold" and s.split == "withhold" else {}),
        },
    )


def sample_candidates(
    test: pd.DataFrame,
    known: pd.DataFrame,
    catalogue: np.ndarray,
    n_negatives: int,
    rng: np.random.Generator,
    *,
    where: str = "split",
) -> pd.DataFrame:
    """The saved sampled-ranking candidates (long format: ``row``, ``user``, ``slot``, ``item``).

    Per test row: slot 0 = its item, slots ``1..n_negatives`` = distinct catalogue items drawn
    uniformly without replacement among those the user has in no row of ``known`` (the user's
    target interactions of every part). Vectorised in row chunks: each candidate gets a uniform key,
    forbidden items get key 2, and the ``n_negatives`` smallest keys win (sorted by key).
    """
    catalogue = np.asarray(catalogue, dtype=np.int64)
    n_cat = catalogue.size
    lut = pd.Series(np.arange(n_cat), index=catalogue)
    k_users = known["user"].to_numpy(np.int64)
    k_items = known["item"].to_numpy(np.int64)
    inside = np.isin(k_items, catalogue)
    n_users = int(max(k_users.max(initial=0), test["user"].max() if len(test) else 0)) + 1
    forbid = sp.csr_matrix(
        (
            np.ones(int(inside.sum()), dtype=np.int8),
            (k_users[inside], lut.loc[k_items[inside]].to_numpy()),
        ),
        shape=(n_users, n_cat),
    )
    forbid.sum_duplicates()
    users = test["user"].to_numpy(np.int64)
    positives = lut.loc[test["item"].to_numpy(np.int64)].to_numpy()
    allowed = n_cat - np.diff(forbid.indptr)[users] - (forbid[users, positives].A1 == 0)
    short = np.flatnonzero(allowed < n_negatives)
    if short.size:
        raise DataError(
            f"{where}: {short.size} test rows have fewer than n_negatives={n_negatives} items to "
            f"sample from (e.g. user {int(users[short[0]])}: {int(allowed[short[0]])} of {n_cat} "
            "target items); lower n_negatives"
        )
    out = np.empty((users.size, n_negatives + 1), dtype=np.int64)
    out[:, 0] = positives
    chunk = max(1, (1 << 22) // max(n_cat, 1))
    for start in range(0, users.size, chunk):
        u = users[start : start + chunk]
        keys = rng.random((u.size, n_cat), dtype=np.float32)
        f = forbid[u].tocoo()
        keys[f.row, f.col] = 2.0
        keys[np.arange(u.size), positives[start : start + chunk]] = 2.0
        pick = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
        order = np.argsort(np.take_along_axis(keys, pick, axis=1), axis=1, kind="stable")
        out[start : start + u.size, 1:] = np.take_along_axis(pick, order, axis=1)
    n = out.shape[1]
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(users.size, dtype=np.int32), n),
            "user": np.repeat(users.astype(np.int32), n),
            "slot": np.tile(np.arange(n, dtype=np.int16), users.size),
            "item": catalogue[out.reshape(-1)].astype(np.int32),
        }
    )


# ----------------------------------------------------------------------------- audit
def audit_cdr(split: Split) -> dict[str, bool]:
    """CDR-specific leakage checks (called by :func:`bench.splits.audit.audit_split`):

    * valid and test rows are target-domain catalogue items;
    * ``cdr_cold``: no valid/test (cold) user has ANY target-domain interaction in train;
    * ``leave_one_out``: per user, no target train interaction later than its valid/test ones;
    * candidates: slot 0 is the test row's item; negatives are distinct target catalogue items the
      user has in no part of the target domain.
    """
    meta, side = split.meta, split.side
    target = meta["target"]
    items = side["items"]
    cat = items.loc[items["role"] == "target", "item"].to_numpy(np.int64)
    for part in ("valid", "test"):
        frame = getattr(split, part)
        bad = ~frame["item"].isin(cat) | (frame["domain"] != target)
        if bad.any():
            row = frame[bad].iloc[0]
            raise LeakageError(
                f"split {split.name!r}: {int(bad.sum())} {part} rows are not target catalogue "
                f"items (e.g. user {int(row['user'])}, item {int(row['item'])})"
            )
    checks = {"cdr_target_only_eval": True}
    train_t = split.train[split.train["domain"] == target]
    if meta["kind"] == "cdr_cold":
        cold = np.union1d(split.valid["user"].unique(), split.test["user"].unique())
        leaked = train_t[train_t["user"].isin(cold)]
        if len(leaked):
            raise LeakageError(
                f"split {split.name!r}: {leaked['user'].nunique()} cold-start users have "
                f"target-domain ({target}) interactions in train, e.g. user "
                f"{int(leaked['user'].iloc[0])} item "
                f"{int(leaked['item'].iloc[0])}; cold users must have none"
            )
        checks["cold_users_no_target_train"] = True
    if meta.get("split") == "leave_one_out":
        last = train_t.groupby("user")["timestamp"].max()
        for part in ("valid", "test"):
            first = getattr(split, part).groupby("user")["timestamp"].min()
            joined = pd.concat([last, first], axis=1, join="inner", keys=["train", part])
            bad = joined[joined["train"] > joined[part]]
            if len(bad):
                raise LeakageError(
                    f"split {split.name!r}: user {int(bad.index[0])} has a target train "
                    f"interaction later than its {part} interaction ({len(bad)} users affected)"
                )
        checks["per_user_order"] = True
    cand = side.get("candidates")
    if cand is not None and len(cand):
        n = int(cand["slot"].max()) + 1
        grid = cand.sort_values(["row", "slot"])["item"].to_numpy(np.int64).reshape(-1, n)
        users = cand.loc[cand["slot"] == 0].sort_values("row")["user"].to_numpy(np.int64)
        test_items = split.test["item"].to_numpy(np.int64)
        if grid.shape[0] != len(split.test) or not np.array_equal(grid[:, 0], test_items):
            raise LeakageError(
                f"split {split.name!r}: candidates slot 0 must be the test rows' items, in order"
            )
        if not np.isin(grid, cat).all():
            raise LeakageError(
                f"split {split.name!r}: candidates contain non-target-catalogue items"
            )
        srt = np.sort(grid, axis=1)
        if (srt[:, 1:] == srt[:, :-1]).any():
            raise LeakageError(f"split {split.name!r}: a candidate row repeats an item")
        known = pd.concat([train_t, split.valid, split.test])
        n_items = split.n_items
        key_known = known["user"].to_numpy(np.int64) * n_items + known["item"].to_numpy(np.int64)
        key_neg = (users[:, None] * split.n_items + grid[:, 1:]).ravel()
        hit = np.isin(key_neg, key_known)
        if hit.any():
            pos = int(np.flatnonzero(hit)[0])
            user, item = int(users[pos // (n - 1)]), int(grid[:, 1:].ravel()[pos])
            raise LeakageError(
                f"split {split.name!r}: a sampled negative is one of the user's target "
                f"interactions (user {user}, item {item})"
            )
        checks["candidates"] = True
    return checks

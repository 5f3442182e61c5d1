"""Synthetic two-domain data for the CDR tests: users share latent factors across domains, so what a
user does in the source predicts what they do in the target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.cdr import CDRData
from bench.data.tables import PreparedDataset
from bench.interactions import Interactions


def latent_domains(
    n_users: int = 200, n_s: int = 60, n_t: int = 50, k: int = 3, per_user: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's ``per_user`` best source and target items under shared user factors (clustered:
    ``k`` user groups, each preferring its own block of items in both domains, plus noise). Item ids
    are shuffled so that item order says nothing about preference. Returns (source, target) item
    matrices of shape (n_users, per_user)."""
    rng = np.random.default_rng(seed)
    group = rng.integers(k, size=n_users)
    u = np.eye(k)[group] * 3.0 + rng.normal(0, 0.3, (n_users, k))
    out = []
    for n in (n_s, n_t):
        v = np.eye(k)[rng.integers(k, size=n)] + rng.normal(0, 0.3, (n, k))
        scores = u @ v.T + rng.gumbel(0, 0.5, (n_users, n))
        out.append(np.argsort(-scores, axis=1)[:, :per_user])
    return out[0], out[1]


def cdr_data(n_users: int = 120, n_s: int = 40, n_t: int = 30, cold: int = 0, seed: int = 0) -> tuple[CDRData, Interactions, np.ndarray]:
    """A :class:`CDRData` of ``latent_domains`` where the last ``cold`` users have no target training
    interactions; returns (data, target valid Interactions, target test truth items per user)."""
    src, tgt = latent_domains(n_users, n_s, n_t, seed=seed)
    users = np.repeat(np.arange(n_users), src.shape[1])
    s_frame = pd.DataFrame({"user": users, "item": src.ravel()})
    warm = np.arange(n_users) < n_users - cold
    train_t = tgt[:, 2:]
    t_frame = pd.DataFrame({"user": np.repeat(np.arange(n_users), train_t.shape[1]), "item": train_t.ravel()})
    t_frame = t_frame[np.repeat(warm, train_t.shape[1])]
    data = CDRData.from_frames(s_frame, t_frame, n_users=n_users, n_source_items=n_s, n_target_items=n_t,
                               source_name="src", target_name="tgt")
    valid = Interactions.from_frame(pd.DataFrame({"user": np.arange(n_users), "item": tgt[:, 1]}), n_users, n_t)
    return data, valid, tgt


def prepared_pair(n_users: int = 60, n_s: int = 30, n_t: int = 25, given: bool = True, seed: int = 0) -> PreparedDataset:
    """A two-domain prepared dataset (domains ``src`` and ``tgt``, items ``0..n_s-1`` then target),
    with ratings and timestamps; with ``given`` a DisenCDR-like ``given_split`` (one target and one
    source test row per user, the rest train)."""
    src, tgt = latent_domains(n_users, n_s, n_t, per_user=8, seed=seed)
    rng = np.random.default_rng(seed)
    frames = []
    for d, (items, offset) in enumerate(((src, 0), (tgt, n_s))):
        users = np.repeat(np.arange(n_users), items.shape[1])
        frame = pd.DataFrame(
            {
                "user": users.astype(np.int32),
                "item": (items.ravel() + offset).astype(np.int32),
                "rating": rng.integers(1, 6, users.size).astype(np.float32),
                "timestamp": (np.tile(np.arange(items.shape[1]), n_users) * 10 + d).astype(np.int64),
                "domain": ["src", "tgt"][d],
            }
        )
        if given:
            frame["given_split"] = np.where(np.tile(np.arange(items.shape[1]), n_users) == 0, "test", "train")
        frames.append(frame)
    inter = pd.concat(frames, ignore_index=True)
    inter["domain"] = inter["domain"].astype("string")
    items = pd.DataFrame(
        {
            "item": np.arange(n_s + n_t, dtype=np.int32),
            "item_id": [str(i) for i in range(n_s + n_t)],
            "domain": ["src"] * n_s + ["tgt"] * n_t,
        }
    )
    users = pd.DataFrame({"user": np.arange(n_users, dtype=np.int32), "user_id": [str(u) for u in range(n_users)]})
    return PreparedDataset(name="pair", interactions=inter, users=users, items=items, stats={})

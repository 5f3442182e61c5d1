"""Synthetic multi-task data for the MTL tests: tasks generated from shared latent factors.

User u and item i have latent factors ``a_u, b_i`` (scalars, N(0, 1)) and ``z_u, z_i`` (dimension
``dim``); their affinity ``s = a_u + b_i + interaction * <z_u, z_i>`` drives every task:

    click ~ Bernoulli(sigmoid(3 s - 1)),   like | click ~ Bernoulli(sigmoid(4 s)),
    ctcvr = click AND like,                rating | click = clip(3 + 1.5 s + N(0, 0.3^2), 1, 5)

so a model that learns ``s`` once (from the plentiful clicks) can reuse it for ``like`` and
``rating``, which are observed on the clicked impressions only.
"""

from __future__ import annotations

import numpy as np

from bench.multitask import MTLData


def synthetic_mtl(
    n_users: int = 120,
    n_items: int = 80,
    per_user: int = 30,
    dim: int = 4,
    interaction: float = 0.5,
    fractions: tuple[float, float] = (0.6, 0.2),
    seed: int = 0,
) -> tuple[MTLData, MTLData, MTLData]:
    """``(train, valid, test)`` MTLData with every user and item in the training vocabulary
    (slot = index + 1), two categorical user fields and five genres (pure noise features)."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n_users), rng.normal(size=n_items)
    zu = rng.normal(size=(n_users, dim)) / np.sqrt(dim)
    zi = rng.normal(size=(n_items, dim))
    user = np.repeat(np.arange(n_users), per_user)
    item = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    s = a[user] + b[item] + interaction * (zu[user] * zi[item]).sum(1)
    sig = lambda x: 1.0 / (1.0 + np.exp(-x))  # noqa: E731
    click = rng.random(s.size) < sig(3 * s - 1)
    like = (rng.random(s.size) < sig(4 * s)) & click
    rating = np.where(click, np.clip(3 + 1.5 * s + rng.normal(0, 0.3, s.size), 1, 5), 0.0)
    fields = np.column_stack([rng.integers(1, 4, n_users), rng.integers(1, 6, n_users)])[user]
    genres = (rng.random((n_items, 5)) < 0.3).astype(np.float32)[item]
    part = rng.choice(3, size=s.size, p=[fractions[0], fractions[1], 1 - sum(fractions)])
    out = []
    for p in range(3):
        r = part == p
        c = click[r]
        out.append(
            MTLData(
                user=user[r], item=item[r], user_id=user[r] + 1, item_id=item[r] + 1,
                user_fields=fields[r], item_genres=genres[r],
                n_user_ids=n_users + 1, n_item_ids=n_items + 1,
                field_names=("a", "b"), field_sizes=(4, 6), genre_names=tuple("ghijk"),
                labels={
                    "click": c.astype(np.float32), "like": like[r].astype(np.float32),
                    "ctcvr": like[r].astype(np.float32), "rating": rating[r].astype(np.float32),
                },
                masks={"click": np.ones(c.size, bool), "like": c, "ctcvr": np.ones(c.size, bool), "rating": c.copy()},
            )
        )
    return tuple(out)

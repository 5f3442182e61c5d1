"""Published results that a report table is set beside, each with its source.

Only numbers that can be traced to a public page are declared here; each row says what was measured
(mean or best over runs) and by whom. For the MMoE paper's Census-Income setting (Ma et al., KDD
2018, section 5.2) the paper's own result tables could not be consulted offline, so the reference
is PaddleRec's public re-implementation of the experiment (batch 32, 400 epochs): its README quotes
``mean_`` and ``max_mmoe_test_auc`` per task, which its ``mmoe_train.py`` computes as the mean and the
max over the epochs of the per-epoch TEST AUC -- the max is an epoch chosen on test, an optimistic
number that no validation-based protocol can match. A gap to it is a gap to that
re-implementation, not to the paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

__all__ = ["PUBLISHED", "Published", "published_table"]


@dataclass(frozen=True)
class Published:
    """One published number: ``value`` of ``metric`` for ``method`` on ``task_set`` (``statistic``:
    what it summarises, as its source labels it), from ``source`` at ``url``."""

    task_set: str
    method: str
    metric: str
    value: float
    statistic: str
    source: str
    url: str


_PADDLEREC = ("PaddleRec MMoE (models/multitask/mmoe, README)",
              "https://github.com/PaddlePaddle/PaddleRec/tree/master/models/multitask/mmoe")

PUBLISHED: tuple[Published, ...] = (
    Published("income_marital", "mmoe", "income_50k_auc", 0.94465, "mean over its epochs of the test AUC", *_PADDLEREC),
    Published("income_marital", "mmoe", "income_50k_auc", 0.94937, "max over its epochs of the test AUC (epoch chosen on test)", *_PADDLEREC),
    Published("income_marital", "mmoe", "never_married_auc", 0.99324, "mean over its epochs of the test AUC", *_PADDLEREC),
    Published("income_marital", "mmoe", "never_married_auc", 0.99419, "max over its epochs of the test AUC (epoch chosen on test)", *_PADDLEREC),
)


def published_table(records: pd.DataFrame, scenario: str, task_set: str,
                    base: Mapping[str, str] | None = None) -> str:
    """Markdown: for every :data:`PUBLISHED` row of ``task_set``, our mean ± std over seeds of the
    same method (or a named configuration of it, ``base``: name -> registered method) and metric in
    ``scenario`` (``–`` when that cell did not run) beside the published value and its source.
    Empty string when nothing is published for the task set."""
    rows = [p for p in PUBLISHED if p.task_set == task_set]
    if not rows:
        return ""
    ok = records[(records["scenario"] == scenario) & (records.get("status", "ok") == "ok")]
    base = dict(base or {})
    lines = ["| method | metric | ours (mean ± std over seeds) | published | statistic | source |",
             "|---|---|---:|---:|---|---|"]
    for p in rows:
        # one row per cell name of the published method: the method itself and each named
        # configuration of it, never pooled (they are different hyperparameters)
        names = [m for m in dict.fromkeys(ok["method"]) if base.get(m, m) == p.method] or [p.method]
        for name in names:
            values = ok.loc[ok["method"] == name, p.metric] if p.metric in ok else pd.Series(dtype=float)
            values = values.dropna()
            ours = "–" if values.empty else (
                f"{values.mean():.4f}" + (f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else "")
                + f" ({len(values)} seed{'s' if len(values) > 1 else ''})")
            lines.append(f"| `{name}` | {p.metric} | {ours} | {p.value:g} | {p.statistic} "
                         f"| [{p.source}]({p.url}) |")
    return "\n".join(lines) + "\n"

"""``results.tex`` compiles in a plain one-column article with 2 cm margins and no table overflows
the text width (no overfull box wider than 1 pt): the committed default-profile report, and a
worst case with many long-named metrics. Needs a TeX engine (``pdflatex``; ``.ci/run`` installs
Debian's texlive-latex-recommended); skipped with that instruction where there is none."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from bench.report.tables import aggregate, to_latex
from tests.conftest import REPO_ROOT

PDFLATEX = shutil.which("pdflatex")
pytestmark = pytest.mark.skipif(
    PDFLATEX is None, reason="no TeX engine: `apt-get install texlive-latex-recommended` to run the "
                             "LaTeX compile tests")

ARTICLE = r"""\documentclass[10pt]{article}
\usepackage[a4paper,margin=2cm]{geometry}
\usepackage[T1]{fontenc}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
See Table~\ref{%s}.
\input{%s}
\end{document}
"""


def _compile(tex_file, first_label: str, tmp_path) -> str:
    doc = tmp_path / "paper.tex"
    doc.write_text(ARTICLE % (first_label, tex_file.resolve().as_posix()))
    for _ in range(2):  # twice, so that \ref resolves
        run = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-3000:]
    return (tmp_path / "paper.log").read_text(errors="replace")


def _overfull(log: str) -> list[float]:
    return [float(p) for p in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]


def _labels(tex: str) -> list[str]:
    return re.findall(r"\\label\{([^}]+)\}", tex)


def test_the_committed_report_compiles_without_overfull_tables(tmp_path):
    tex_file = REPO_ROOT / "reports" / "results.tex"
    labels = _labels(tex_file.read_text())
    assert labels and len(labels) == len(set(labels))  # one label per table, for \ref
    log = _compile(tex_file, labels[0], tmp_path)
    assert [p for p in _overfull(log) if p > 1.0] == []
    assert "undefined" not in log.lower() or "Reference" not in log


def test_a_wide_table_is_scaled_down_to_the_text_width(tmp_path):
    metrics = [f"sampled_{m}@{k}" for m in ("ndcg", "hr", "mrr") for k in (5, 10, 20)]
    rows = [{"scenario": "wide_scenario", "kind": "topn", "method": f"method_{i}", "seed": s, "status": "ok",
             "fit_seconds": 1234.5, "n_parameters": 12_345_678,
             **{m: 0.1 + 0.01 * i + 0.001 * s for m in metrics}}
            for i in range(6) for s in range(3)]
    table = aggregate(pd.DataFrame(rows), metrics)
    sig = pd.DataFrame([{"scenario": "wide_scenario", "metric": m, "method": f"method_{i}",
                         "reference": "method_5", "significant": bool(i % 2)}
                        for m in metrics for i in range(6)])
    tex = to_latex(table, metrics, sig=sig, caption="A caption.", label="tab:wide")
    (tmp_path / "wide.tex").write_text(tex)
    log = _compile(tmp_path / "wide.tex", _labels(tex)[0], tmp_path)
    assert [p for p in _overfull(log) if p > 1.0] == []
    assert np.isfinite(table["n_parameters_mean"]).all() and "12M" in tex

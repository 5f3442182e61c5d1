"""One look per method in every figure, and one way to save a figure.

:func:`method_style` gives each method a fixed colour and marker, so a method looks the same in the
bar chart, the cost frontier, the MTL trade-off and the gain-vs-beta figure of any scenario. Built-in
methods take their place in :data:`FAMILIES` (within a family, which is what one figure shows, no two
methods share a colour or a marker); a plugin method gets a colour and marker derived from the sha256
of its name (stable across runs and figures, independent of which other methods exist).

:func:`save` writes every figure twice: PNG at :data:`PNG_DPI` for Markdown, HTML and ``dvc plots``,
and PDF (vector) for papers in the sibling folder ``<figures>-pdf/`` (``dvc plots`` reads images
from the figures folder and would try to parse a PDF as data). Both carry no timestamp or version
metadata, so identical inputs give identical bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["FAMILIES", "PNG_DPI", "method_style", "pdf_path", "legend_outside", "save"]

#: tab10, the colour-blind-safe-ish default cycle, in order
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")

#: built-in methods per family, in the order of their colours and markers
FAMILIES = (
    ("random", "pop", "itemknn", "puresvd", "ease", "als", "bpr", "mf", "multvae", "lightgcn"),
    ("single_task", "shared_bottom", "mmoe", "ple", "esmm", "aitm", "multioutput_linear"),
    ("target_only", "pooled", "finetune", "cmf", "emcdr", "ptupcdr", "conet", "bitgcf", "disencdr"),
)
_BUILTIN = {m: i for family in FAMILIES for i, m in enumerate(family)}

PNG_DPI = 200
_PNG_METADATA = {"Software": None}
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}


def method_style(method: str) -> dict[str, str]:
    """``{"color": ..., "marker": ...}`` of ``method``, the same in every figure."""
    if method in _BUILTIN:
        i = _BUILTIN[method]
        return {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i % len(MARKERS)]}
    h = int.from_bytes(hashlib.sha256(method.encode()).digest()[:4], "big")
    return {"color": COLORS[h % len(COLORS)], "marker": MARKERS[(h // len(COLORS)) % len(MARKERS)]}


def legend_outside(ax, **kwargs):
    """The axes' legend to the right of the plot area, where it cannot hide a data point."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8,
                     frameon=False, **kwargs)


def pdf_path(png: Path) -> Path:
    """Where :func:`save` puts the PDF twin of ``png``: ``<figures>-pdf/<name>.pdf``."""
    png = Path(png)
    return png.parent.with_name(png.parent.name + "-pdf") / png.with_suffix(".pdf").name


def save(fig, path: Path) -> Path:
    """Write ``fig`` as ``path`` (PNG, :data:`PNG_DPI`) and as :func:`pdf_path` (PDF); close it and
    return ``path``. The bounding box is tight, so a legend outside the axes is kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PNG_DPI, bbox_inches="tight", metadata=_PNG_METADATA)
    pdf = pdf_path(path)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(pdf, bbox_inches="tight", metadata=_PDF_METADATA)
    plt.close(fig)
    return path

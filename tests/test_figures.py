"""Report figures: every figure draws a method in the colour and marker of
:func:`bench.report.style.method_style`, keeps its legend off the data, scales the metric axis to the
data, and is saved as a >= 200 dpi PNG plus a vector PDF, byte-identical on a rerun."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from bench.config import CDRColdScenario
from bench.report import figures, style
from bench.report.cdr import cdr_beta_figure
from bench.report.mtl import mtl_tradeoff_figure

METHODS = ["target_only", "pooled", "cmf", "ptupcdr"]


@pytest.fixture
def captured(monkeypatch):
    """The figures :func:`bench.report.style.save` was given, still open."""
    figs = []
    real = style.save

    def keep(fig, path):
        fig.canvas.draw()
        figs.append(fig)
        return real(fig, path)

    monkeypatch.setattr(style, "save", keep)
    monkeypatch.setattr(figures, "save", keep)
    monkeypatch.setattr(matplotlib.pyplot, "close", lambda fig=None: None)
    return figs


def _sig() -> pd.DataFrame:
    means = [0.71, 0.74, 0.745, 0.752]  # AUC-like: close values far from 0
    return pd.DataFrame({
        "scenario": "s", "metric": "like_auc", "method": METHODS, "reference": "target_only",
        "mean": means, "ci_low": [m - 0.004 for m in means], "ci_high": [m + 0.004 for m in means],
    })


def _table() -> pd.DataFrame:
    return pd.DataFrame({"scenario": "s", "method": METHODS, "like_auc_mean": [0.71, 0.74, 0.745, 0.752],
                         "fit_seconds_mean": [3.1, 4.0, 5.2, 6.9]})  # less than one decade of fit time


def _cold_records() -> pd.DataFrame:
    rows = []
    for beta, scen in ((0.2, "c20"), (0.5, "c50")):
        for i, m in enumerate(METHODS[1:]):
            for seed in (0, 1):
                rows.append({"scenario": scen, "kind": "cdr_cold", "method": m, "seed": seed, "status": "ok",
                             "ndcg@10": 0.05 + 0.01 * i - 0.02 * beta + 0.001 * seed})
    return pd.DataFrame(rows)


COLD = {s: CDRColdScenario(name=s, dataset="d", source="a", target="b", split="withhold", beta=b)
        for s, b in (("c20", 0.2), ("c50", 0.5))}


def _mtl_records() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"scenario": "m", "kind": "mtl", "method": m, "seed": s, "status": "ok",
                          "like_auc": 0.7 + 0.01 * i + rng.normal(0, 0.002),
                          "rating_rmse": 1.0 - 0.01 * i + rng.normal(0, 0.002)}
                         for i, m in enumerate(["single_task", "mmoe", "ple"]) for s in range(3)])


def _draw_all(tmp_path) -> list:
    paths = [
        figures.bars_with_ci(_sig(), "s", "like_auc", tmp_path / "figures" / "bars.png"),
        figures.cost_frontier(_table(), "s", "like_auc", tmp_path / "figures" / "cost.png"),
        mtl_tradeoff_figure(_mtl_records(), tmp_path / "figures" / "tradeoff.png", scenario="m"),
    ]
    beta = cdr_beta_figure(_cold_records(), tmp_path / "figures" / "beta.png", COLD)
    return [*paths, beta]


def _point_colors(fig) -> dict[str, set[str]]:
    """Method -> colours of its labelled artists over every axes of ``fig`` (legend entries)."""
    found: dict[str, set[str]] = {}
    for ax in fig.axes:
        for artist in [*ax.collections, *ax.lines, *ax.containers]:
            label = artist.get_label()
            if label.startswith("_") or label not in style._BUILTIN:
                continue
            if hasattr(artist, "get_facecolor"):
                color = to_hex(artist.get_facecolor()[0])
            elif hasattr(artist, "lines"):
                color = to_hex(artist.lines[0].get_color())
            else:
                color = to_hex(artist.get_color())
            found.setdefault(label, set()).add(color)
    return found


def test_a_method_has_one_colour_in_every_figure_and_legends_stay_off_the_data(tmp_path, captured):
    _draw_all(tmp_path)
    bars, cost, tradeoff, beta = captured
    colours: dict[str, set[str]] = {}
    for fig in (cost, tradeoff, beta):
        for method, cs in _point_colors(fig).items():
            colours.setdefault(method, set()).update(cs)
    ax = bars.axes[0]  # the CI chart: one errorbar per method, in y-tick order
    for label, container in zip([t.get_text() for t in ax.get_yticklabels()], ax.containers, strict=True):
        colours.setdefault(label.removesuffix(" (ref)"), set()).add(to_hex(container.lines[0].get_color()))
    assert set(colours) >= set(METHODS) | {"single_task", "mmoe", "ple"}
    for method, cs in colours.items():
        assert cs == {style.method_style(method)["color"]}, method
    for fig in captured:  # no legend box covers a drawn data point
        renderer = fig.canvas.get_renderer()
        boxes = [leg.get_window_extent(renderer) for leg in [*fig.legends, *(a.get_legend() for a in fig.axes)]
                 if leg is not None]
        for ax in fig.axes:
            pts = [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
                   if len(c.get_offsets())]
            pts += [ln.get_transform().transform(np.column_stack(ln.get_data())) for ln in ax.lines
                    if len(ln.get_xdata())]
            for xy in pts:
                for box in boxes:
                    assert not any(box.contains(x, y) for x, y in xy), fig.axes[0].get_title()


def test_metric_axes_follow_the_data_and_log_ticks_do_not_collide(tmp_path, captured):
    _draw_all(tmp_path)
    bars, cost = captured[:2]
    lo, hi = bars.axes[0].get_xlim()
    assert lo > 0.6 and hi < 0.8  # AUC from ~0.70 to ~0.76, not from 0
    ticks = [t for t in cost.axes[0].xaxis.get_ticklabels(which="both") if t.get_text()]
    renderer = cost.canvas.get_renderer()
    extents = sorted((t.get_window_extent(renderer) for t in ticks if t.get_visible()), key=lambda b: b.x0)
    visible = [b for b in extents if cost.axes[0].bbox.x0 - 1 <= b.x0 <= cost.axes[0].bbox.x1 + 1]
    assert len(visible) >= 2  # fit times span less than a decade: still labelled
    assert all(a.x1 <= b.x0 for a, b in zip(visible, visible[1:]))  # labels side by side, never overlapping
    wide = _table().assign(fit_seconds_mean=[0.001, 0.5, 40.0, 900.0])  # six decades, as on ml1m-topn
    figures.cost_frontier(wide, "s", "like_auc", tmp_path / "figures" / "wide.png")
    ax = captured[-1].axes[0]
    boxes = sorted((t.get_window_extent(captured[-1].canvas.get_renderer())
                    for t in ax.xaxis.get_ticklabels() if t.get_text() and t.get_visible()), key=lambda b: b.x0)
    boxes = [b for b in boxes if ax.bbox.x0 - 1 <= b.x0 <= ax.bbox.x1 + 1]
    assert len(boxes) >= 3 and all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))


def test_every_figure_is_a_200_dpi_png_and_a_pdf_identical_on_rerun(tmp_path):
    first = _draw_all(tmp_path / "a")
    second = _draw_all(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        dpi = Image.open(a).info["dpi"]
        assert min(dpi) >= 199.5, (a.name, dpi)
        pdf_a, pdf_b = style.pdf_path(a), style.pdf_path(b)
        assert pdf_a.parent.name == "figures-pdf" and pdf_a.read_bytes().startswith(b"%PDF")
        assert a.read_bytes() == b.read_bytes() and pdf_a.read_bytes() == pdf_b.read_bytes()


def test_plugin_methods_get_a_stable_style_of_their_own():
    a, b = style.method_style("my_method"), style.method_style("my_method")
    assert a == b and a["color"] in style.COLORS and a["marker"] in style.MARKERS
    for family in style.FAMILIES:  # within a family (one figure) no two methods look alike
        looks = [tuple(style.method_style(m).values()) for m in family]
        assert len(set(looks)) == len(looks)

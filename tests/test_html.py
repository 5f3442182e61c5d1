"""``reports/index.html`` in a real headless browser (Debian's Chromium, installed by ``.ci/run``;
skipped with that instruction where it is absent): opened from disk, every scenario's table renders
with its rows, clicking a column header sorts the rows by that column's numbers (ascending, then
descending), the page raises no JavaScript error, and a screenshot is saved
(``artifacts/screenshots/``). Plus the static checks: self-contained (no network address in any
``src``/``href``), one table per scenario, marks and CIs present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from bench.report.html import HtmlSection, write_html
from tests.conftest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--allow-file-access-from-files"]
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: `apt-get install chromium` to run the browser tests")

#: injected by the test (not shipped in the page): records errors from the first line on ...
CATCH = "<script>window.__errors=[];window.addEventListener('error',function(e){__errors.push(String(e.message));});</script>"
#: ... and, after the page's own script, clicks each table's first metric header twice
PROBE = """<script>(function(){
var out={tables:[],errors:window.__errors};
document.querySelectorAll('table.sortable').forEach(function(t){
  var rows=function(){return Array.prototype.slice.call(t.tBodies[0].rows);};
  var col=function(i){return rows().map(function(r){var v=r.cells[i].getAttribute('data-value');return v===''?null:+v;});};
  var names=function(){return rows().map(function(r){return r.cells[0].textContent.trim();});};
  var before=names(), th=t.tHead.rows[0].cells[1];
  th.click(); var asc=col(1), ascNames=names(), ascSort=th.getAttribute('aria-sort');
  th.click(); var desc=col(1);
  out.tables.push({scenario:t.getAttribute('data-scenario'), rows:rows().length, before:before,
    ascNames:ascNames, asc:asc, desc:desc, ascSort:ascSort, descSort:th.getAttribute('aria-sort')});
});
var pre=document.createElement('pre');pre.id='recx-probe';pre.textContent=JSON.stringify(out);
document.body.appendChild(pre);})();</script>"""


def _page(tmp_path) -> tuple[pd.DataFrame, list[HtmlSection]]:
    rows = []
    for scenario, n in (("s1", 5), ("s2", 4)):
        for i in range(n):
            v = [0.30, 0.10, 0.50, 0.20, 0.40][i]
            rows.append({"scenario": scenario, "kind": "topn", "method": f"m{i}", "seeds_ok": 3, "seeds_total": 3,
                         "status": "ok", "ndcg@10_mean": v, "ndcg@10_std": 0.01, "recall@10_mean": 2 * v,
                         "recall@10_std": np.nan, "fit_seconds_mean": 10.0 - i, "n_parameters_mean": 1000.0 * i})
    table = pd.DataFrame(rows)
    sig = pd.DataFrame([{"scenario": r["scenario"], "metric": "ndcg@10", "method": r["method"], "reference": "m2",
                         "significant": r["method"] == "m1", "ci_low": r["ndcg@10_mean"] - 0.02,
                         "ci_high": r["ndcg@10_mean"] + 0.02} for r in rows])
    sections = [HtmlSection("Top-N recommendation", ("ndcg@10", "recall@10"), "ndcg@10", ("s1", "s2"))]
    (tmp_path / "figures").mkdir(parents=True)
    fig = tmp_path / "figures" / "s1-ndcg_at_10.png"
    _tiny_png(fig)
    write_html(tmp_path, table=table, sig=sig, sections=sections, figures={"s1": [fig]}, shared_figures=[],
               methods={"m0": "Zero (Someone et al., 2020)"}, tuning="off", provenance={"commits": ["abc"]},
               significance_note="† = significant.")
    return table, sections


def _tiny_png(path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)


def test_page_is_self_contained_with_one_table_per_scenario(tmp_path):
    _page(tmp_path)
    text = (tmp_path / "index.html").read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)  # nothing from the network
    assert text.count('<table class="sortable"') == 2
    assert 'data-scenario="s1"' in text and 'data-scenario="s2"' in text
    assert '<span class="mark">†</span>' in text and '<span class="mark">ref</span>' in text
    assert "[0.4800, 0.5200]" in text and 'src="figures/s1-ndcg_at_10.png"' in text
    assert "Zero (Someone et al., 2020)" in text and 'href="results.tex"' in text


def _browse(folder, tmp_path) -> tuple[dict, str]:
    probe = tmp_path / "probe"
    shutil.copytree(folder, probe, ignore=shutil.ignore_patterns("trec", "plots", "metrics", "figures-pdf"))
    page = (probe / "index.html").read_text()
    page = page.replace("<head>", "<head>" + CATCH, 1).replace("</body>", PROBE + "</body>", 1)
    (probe / "index.html").write_text(page)
    run = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", (probe / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="recx-probe">(.*?)</pre>', run.stdout, re.S)
    assert found, "the probe script did not run: " + run.stderr[-2000:]
    import html as _html

    return json.loads(_html.unescape(found.group(1))), run.stderr


def _screenshot(folder, name: str, tmp_path) -> None:
    shots = REPO_ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile-shot'}", "--hide-scrollbars",
         "--window-size=1400,2200", f"--screenshot={shots / name}", (folder / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and (shots / name).stat().st_size > 10_000, run.stderr[-2000:]


def _check_sorting(result: dict, scenarios: set[str]) -> None:
    assert result["errors"] == []
    assert {t["scenario"] for t in result["tables"]} == scenarios
    for t in result["tables"]:
        assert t["rows"] > 0
        asc = [v for v in t["asc"] if v is not None]
        desc = [v for v in t["desc"] if v is not None]
        assert asc == sorted(asc) and desc == sorted(desc, reverse=True), t["scenario"]
        assert (t["ascSort"], t["descSort"]) == ("ascending", "descending")
        assert sorted(t["ascNames"]) == sorted(t["before"])  # the same rows, reordered


@needs_browser
def test_sorting_in_a_real_browser_reorders_rows_without_errors(tmp_path):
    _page(tmp_path / "page")
    result, stderr = _browse(tmp_path / "page", tmp_path)
    _check_sorting(result, {"s1", "s2"})
    s1 = next(t for t in result["tables"] if t["scenario"] == "s1")
    assert s1["before"] != s1["ascNames"]  # the written order was not already sorted
    assert s1["ascNames"] == ["m1", "m3", "m0", "m4", "m2"]
    assert "Uncaught" not in stderr


@needs_browser
def test_the_committed_report_renders_every_scenario_in_a_real_browser(tmp_path):
    from bench.config import load_params

    reports = REPO_ROOT / "reports"
    params = load_params(REPO_ROOT / "params.yaml")
    result, stderr = _browse(reports, tmp_path)
    _check_sorting(result, {s for grid in params.grids.values() for s in grid.scenarios})
    assert "Uncaught" not in stderr
    _screenshot(reports, "index.png", tmp_path)

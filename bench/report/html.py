"""``reports/index.html``: the report as one static, self-contained page to browse.

The same aggregated table, significance table, figures and provenance as ``results.md`` (the report
stage builds them once and hands them to every renderer), shown per scenario: a sortable table
(click a column header; numbers sort as numbers) with mean ± std over seeds, ``†``/``ref`` marks and
the 95 % bootstrap CI of the primary metric, the scenario's figures, then the methods with their
papers, the tuning budget, provenance and links to the CSV/LaTeX/Markdown files beside it. No
network: no CDN, no web font, no external script or style; the figures are the PNGs of
``figures/`` referenced relatively, so the folder can be opened from disk or served as it is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report.tables import _marks, _ranks

__all__ = ["HtmlSection", "write_html"]


@dataclass(frozen=True)
class HtmlSection:
    """One report section (a scenario family) as the renderers see it."""

    title: str
    metrics: tuple[str, ...]
    primary: str
    scenarios: tuple[str, ...]


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;line-height:1.4}
header{background:#1f3b57;color:#fff;padding:1rem 2rem}header a{color:#cde}
nav{padding:.5rem 2rem;background:#f3f5f7;border-bottom:1px solid #ddd;font-size:.9rem}
nav a{margin-right:1rem}main{padding:0 2rem 3rem}
h2{border-bottom:2px solid #1f3b57;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}
th,td{padding:.25rem .5rem;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
thead th{background:#f3f5f7;cursor:pointer;user-select:none;position:sticky;top:0}
thead th[aria-sort=ascending]::after{content:" \\25B2"}thead th[aria-sort=descending]::after{content:" \\25BC"}
td.best{font-weight:700}td.second{font-style:italic}.mark{color:#b22;font-size:.8em}
.std{color:#777;font-size:.85em}figure{display:inline-block;margin:.5rem 1rem .5rem 0}
figure img{max-width:560px;width:100%;border:1px solid #eee}
.note{color:#555;font-size:.85rem;max-width:60rem}code{background:#f3f5f7;padding:0 .2rem}
"""

#: click-to-sort, numeric where a cell has data-value; no library
SCRIPT = """
(function(){
  function key(cell){var v=cell.getAttribute('data-value');
    if(v!==null&&v!==''&&!isNaN(+v))return +v;return cell.textContent.trim().toLowerCase();}
  function sortBy(th){
    var table=th.closest('table'),body=table.tBodies[0],idx=Array.prototype.indexOf.call(th.parentNode.children,th);
    var asc=th.getAttribute('aria-sort')!=='ascending';
    Array.prototype.forEach.call(th.parentNode.children,function(o){o.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=key(a.cells[idx]),y=key(b.cells[idx]);
      if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
    rows.forEach(function(r){body.appendChild(r);});
  }
  document.querySelectorAll('table.sortable thead th').forEach(function(th){
    th.addEventListener('click',function(){sortBy(th);});});
})();
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(value: Any) -> str:
    return "" if value is None or not np.isfinite(value) else repr(float(value))


def _scenario_table(table: pd.DataFrame, sig: pd.DataFrame, scenario: str, metrics: Sequence[str],
                    primary: str) -> str:
    group = table[table["scenario"] == scenario]
    shown = [m for m in metrics if f"{m}_mean" in group and group[f"{m}_mean"].notna().any()]
    head = ["method", *shown]
    has_ci = not sig.empty and ((sig["scenario"] == scenario) & (sig["metric"] == primary)).any()
    if has_ci:
        head.append(f"95% CI {primary}")
    head += ["fit s", "params", "seeds"]
    ranks = {m: _ranks(group, m) for m in shown}  # the Markdown's rule: ties share a rank
    rows = []
    for _, row in group.iterrows():
        method = row["method"]
        cells = [f'<td data-value="{_esc(method)}"><code>{_esc(method)}</code></td>']
        for m in shown:
            mean, std = row[f"{m}_mean"], row[f"{m}_std"]
            if not np.isfinite(mean):
                cells.append('<td data-value="">—</td>')
                continue
            rank = ranks[m].get(method)
            cls = ' class="best"' if rank == 1 else ' class="second"' if rank == 2 else ""
            mark = _marks(sig, scenario, m, method)
            text = f"{mean:.4f}" + (f' <span class="std">± {std:.4f}</span>' if np.isfinite(std) else "")
            text += f' <span class="mark">{_esc(mark)}</span>' if mark else ""
            cells.append(f'<td{cls} data-value="{_num(mean)}">{text}</td>')
        if has_ci:
            r = sig[(sig["scenario"] == scenario) & (sig["metric"] == primary) & (sig["method"] == method)]
            if r.empty:
                cells.append('<td data-value="">—</td>')
            else:
                lo, hi = float(r["ci_low"].iloc[0]), float(r["ci_high"].iloc[0])
                cells.append(f'<td data-value="{_num(lo)}">[{lo:.4f}, {hi:.4f}]</td>')
        fit = row.get("fit_seconds_mean", np.nan)
        params = row.get("n_parameters_mean", np.nan)
        cells.append(f'<td data-value="{_num(fit)}">{"—" if not np.isfinite(fit) else f"{fit:.2f}"}</td>')
        cells.append(f'<td data-value="{_num(params)}">{"—" if not np.isfinite(params) else f"{params:,.0f}"}</td>')
        seeds = f"{row['seeds_ok']}/{row['seeds_total']}"
        status = "" if row["status"] == "ok" else f" ⚠ {_esc(row['status'])}"
        cells.append(f'<td data-value="{int(row["seeds_ok"])}">{seeds}{status}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th scope=\"col\">{_esc(h)}</th>" for h in head)
    return (f'<table class="sortable" data-scenario="{_esc(scenario)}"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def write_html(
    out: Path,
    *,
    table: pd.DataFrame,
    sig: pd.DataFrame,
    sections: Sequence[HtmlSection],
    figures: Mapping[str, Sequence[Path]],
    shared_figures: Sequence[Path],
    methods: Mapping[str, str],
    tuning: str,
    provenance: Mapping[str, Any],
    significance_note: str,
    cite: str = "",
) -> Path:
    """Write ``out / "index.html"`` (see the module docstring) and return its path. ``figures`` maps
    a scenario to its PNGs, ``shared_figures`` are the section-wide ones (e.g. gain vs beta),
    ``methods`` a method to its one-line description (with its paper)."""
    out = Path(out)
    nav, body = [], []
    for section in sections:
        anchor = "sec-" + section.title.lower().replace(" ", "-").replace("(", "").replace(")", "")
        nav.append(f'<a href="#{_esc(anchor)}">{_esc(section.title)}</a>')
        body.append(f'<section id="{_esc(anchor)}"><h2>{_esc(section.title)}</h2>')
        for scenario in section.scenarios:
            body.append(f'<section class="scenario" id="scenario-{_esc(scenario)}"><h3>{_esc(scenario)}</h3>')
            body.append(_scenario_table(table, sig, scenario, section.metrics, section.primary))
            for fig in figures.get(scenario, ()):
                body.append(f'<figure><img src="figures/{_esc(fig.name)}" alt="{_esc(fig.stem)}" '
                            f'loading="lazy"><figcaption>{_esc(fig.stem)}</figcaption></figure>')
            body.append("</section>")
        body.append("</section>")
    if shared_figures:
        body.append('<section id="sec-figures"><h2>More figures</h2>')
        for fig in shared_figures:
            body.append(f'<figure><img src="figures/{_esc(fig.name)}" alt="{_esc(fig.stem)}" '
                        f'loading="lazy"><figcaption>{_esc(fig.stem)}</figcaption></figure>')
        body.append("</section>")
    nav += ['<a href="#sec-methods">Methods</a>', '<a href="#sec-provenance">Provenance</a>',
            '<a href="#sec-cite">How to cite</a>']
    used = sorted(set(table["method"]))
    body.append('<section id="sec-methods"><h2>Methods</h2><table><thead><tr><th>method</th>'
                '<th>description (paper)</th></tr></thead><tbody>')
    body += [f'<tr><td><code>{_esc(m)}</code></td><td style="text-align:left;white-space:normal">'
             f'{_esc(methods.get(m, ""))}</td></tr>' for m in used]
    body.append(f'</tbody></table><p class="note">Tuning: {_esc(tuning)}</p></section>')
    body.append('<section id="sec-provenance"><h2>Provenance</h2><pre>'
                + _esc(json.dumps(provenance, indent=2, sort_keys=True)) + "</pre></section>")
    bib = "\n\n".join(b.split("```")[0].strip() for b in cite.split("```bibtex")[1:])
    body.append('<section id="sec-cite"><h2>How to cite</h2><pre>' + _esc(bib) + "</pre></section>")
    links = " · ".join(f'<a href="{f}">{f}</a>' for f in
                       ("results.md", "results.tex", "results.csv", "cells.csv", "significance.csv",
                        "results.json"))
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>recxbench results</title><style>{STYLE}</style></head><body>"
        f"<header><h1>recxbench results</h1><p class=\"note\" style=\"color:#dde\">{_esc(significance_note)}"
        f"</p><p>{links}</p></header><nav>{''.join(nav)}</nav><main>{''.join(body)}</main>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
    path = out / "index.html"
    path.write_text(page)
    return path

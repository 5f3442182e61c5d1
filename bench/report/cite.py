"""Per-scenario provenance and the report's "How to cite" block.

* :func:`scenario_provenance`: for every scenario of the run records, its dataset, the sha256 of each
  raw file the dataset was prepared from (``datasets/prepared/<dataset>/stats.json: inputs``, written
  by the prepare stage from the verified fetch), the sha256 of each split file (from the run records)
  and the dataset's citation and licence (``datasets/sources.yaml``).
* :func:`how_to_cite`: BibTeX of recxbench (from ``CITATION.cff``, at the report's commit) and of
  every dataset the report uses (``bibtex`` of its ``sources.yaml`` entry; the plain citation where an
  entry has none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__all__ = ["how_to_cite", "recxbench_bibtex", "scenario_provenance"]


def scenario_provenance(
    params, records: pd.DataFrame, *, prepared: Path | None = None, sources=None
) -> dict[str, dict[str, Any]]:
    """``{scenario: {dataset, raw_sha256, split_sha256, citation, licence}}`` for the scenarios of
    ``records`` (ok cells), in their order."""
    ok = records[records["status"] == "ok"] if "status" in records else records
    out: dict[str, dict[str, Any]] = {}
    for scenario in dict.fromkeys(ok["scenario"]):
        dataset = params.scenario(scenario).dataset
        hashes = sorted({v for v in ok.loc[ok["scenario"] == scenario, "split_sha256"] if isinstance(v, str)})
        entry: dict[str, Any] = {
            "dataset": dataset,
            "split_sha256": json.loads(hashes[0]) if len(hashes) == 1 else [json.loads(h) for h in hashes],
        }
        stats = Path(prepared) / dataset / "stats.json" if prepared is not None else None
        if stats is not None and stats.is_file():
            entry["raw_sha256"] = json.loads(stats.read_text()).get("inputs", {})
        pair = getattr(params, "pairs", {}).get(dataset)
        if pair is not None:  # a joined pair: cite the release of its categories
            entry["pair_of"] = [pair.first, pair.second]
        names = [pair.first, pair.second] if pair is not None else [dataset]
        found = [sources.get(n) for n in names] if sources is not None else []
        found = [f for f in found if f is not None]
        if found:  # one value per field, or the distinct values of a pair's two releases joined
            entry.update({
                key: " / ".join(dict.fromkeys(str(getattr(f, key)) for f in found))
                for key in ("title", "homepage", "citation", "licence")
            })
        out[scenario] = entry
    return out


def recxbench_bibtex(citation_cff: Path, commit: str | None) -> str:
    """An ``@software`` entry from ``CITATION.cff`` (title, authors, version, release date, licence),
    with the commit that produced the tables as its note."""
    cff = yaml.safe_load(Path(citation_cff).read_text()) or {}
    authors = " and ".join(
        a.get("name") and "{" + a["name"] + "}" or f"{a.get('family-names', '')}, {a.get('given-names', '')}"
        for a in cff.get("authors", [])
    )
    date = str(cff.get("date-released", ""))
    fields = {
        "title": "{" + str(cff.get("title", "recxbench")) + "}",
        "author": authors,
        "version": cff.get("version"),
        "year": date[:4] or None,
        "date": date or None,
        "license": cff.get("license"),
        "url": cff.get("repository-code") or cff.get("url"),
        "note": f"commit {commit}" if commit else None,
    }
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
    return "@software{recxbench,\n" + body + "\n}"


def how_to_cite(
    citation_cff: Path | None, sources, datasets: Sequence[str], commit: str | None
) -> str:
    """The Markdown "How to cite" section (fenced BibTeX blocks)."""
    lines = ["## How to cite", "",
             "Cite recxbench at the commit that produced these tables, and every dataset you report on:", ""]
    if citation_cff is not None and Path(citation_cff).is_file():
        lines += ["```bibtex", recxbench_bibtex(citation_cff, commit), "```", ""]
    seen: set[str] = set()
    for name in datasets:
        source = sources.get(name) if sources is not None else None
        if source is None:
            continue
        text = source.bibtex or f"% {source.citation}"
        if text in seen:
            continue
        seen.add(text)
        lines += [f"{_dataset_names(sources, text, datasets)}:", "", "```bibtex", text, "```", ""]
    return "\n".join(lines)


def _dataset_names(sources, text: str, datasets: Sequence[str]) -> str:
    names = [d for d in datasets if (s := sources.get(d)) is not None and (s.bibtex or f"% {s.citation}") == text]
    return ", ".join(f"`{n}`" for n in names)


def provenance_table(scenarios: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown rows: scenario, dataset, raw-file and split-file sha256 (first 12 hex digits)."""
    def short(hashes: Any) -> str:
        if isinstance(hashes, list):
            return " / ".join(short(h) for h in hashes)
        return ", ".join(f"{k} `{v[:12]}`" for k, v in sorted((hashes or {}).items()))

    lines = ["| scenario | dataset | raw files (sha256) | split files (sha256) |", "|---|---|---|---|"]
    for name, p in scenarios.items():
        lines.append(f"| `{name}` | `{p['dataset']}` | {short(p.get('raw_sha256'))} | {short(p.get('split_sha256'))} |")
    return lines

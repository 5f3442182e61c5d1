"""``recx export``: one scenario's exact split in files another framework reads, so anyone can run
RecBole, LensKit, Elliot, ranx ... on the identical train/valid/test and saved candidate sets::

    recx export ml1m-topn --format recbole --out exports/recbole
    recx export cdrib-game-video-cold --format csv

Formats (:data:`FORMATS`):

``csv``      ``train.csv``, ``valid.csv``, ``test.csv`` and ``side_<name>.csv`` for every side table
             (saved candidate sets, features, item domains): every column of the split's Parquet
             files, the same rows in the same order, comma-separated with a header.
``recbole``  RecBole's atomic benchmark files ``<scenario>/<scenario>.{train,valid,test}.inter``
             (tab-separated, typed header ``user_id:token  item_id:token  rating:float ...``) and
             ``<scenario>.yaml``, the dataset config that loads them as RecBole's pre-split benchmark
             (``benchmark_filename: [train, valid, test]``, full ranking, history items masked).
             RecBole has no format for saved candidate sets: side tables go beside them as CSV.
``trec``     ``valid.qrels`` and ``test.qrels`` (``<user> 0 <item> 1``), to score any run file with
             ``trec_eval`` or ``ranx`` on the split's relevance judgements.

Every export writes ``export.json``: the scenario, the format, the split manifest's sha256 of each
source Parquet file (so an export names the exact split it came from) and the sha256 of each file
written. Ids are the split's global integer indices (``datasets/prepared/<dataset>/`` maps them back
to the raw ids). The split is verified against its manifest before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bench.atomic import staged_dir, write_text
from bench.errors import RecxError
from bench.splits.types import PARTS, Split, read_manifest, sha256_file

__all__ = ["FORMATS", "export_split", "read_recbole_inter"]

#: RecBole's name for the user and item id fields of the exported ``.inter`` files
RECBOLE_FIELDS = {"user": "user_id", "item": "item_id"}


def _csv(split: Split, out: Path, final: Path) -> list[Path]:
    written = []
    for name, frame in [*((p, getattr(split, p)) for p in PARTS),
                        *((f"side_{n}", t) for n, t in sorted(split.side.items()))]:
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written


def _recbole_type(series: pd.Series) -> str:
    if series.name in RECBOLE_FIELDS:
        return "token"
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return "float"
    return "token"


def _recbole(split: Split, out: Path, final: Path) -> list[Path]:
    folder = out / split.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for part in PARTS:
        frame = getattr(split, part)
        header = [f"{RECBOLE_FIELDS.get(c, c)}:{_recbole_type(frame[c])}" for c in frame.columns]
        body = frame.copy()
        for c in body.columns:
            if pd.api.types.is_bool_dtype(body[c]):
                body[c] = body[c].astype(int)
        path = folder / f"{split.name}.{part}.inter"
        with open(path, "w", newline="") as fh:
            fh.write("\t".join(header) + "\n")
            body.to_csv(fh, sep="\t", index=False, header=False)
        written.append(path)
    for name, table in sorted(split.side.items()):
        path = folder / f"side_{name}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    columns = [RECBOLE_FIELDS.get(c, c) for c in split.train.columns]
    config = "\n".join([
        f"# RecBole dataset config for the recxbench split {split.name!r} (written by `recx export`).",
        f"# Run: python run_recbole.py --dataset {split.name} --config_files {split.name}.yaml "
        f"--data_path {final}",
        f"dataset: {split.name}",
        f"data_path: {final}",
        "benchmark_filename: [train, valid, test]",
        "USER_ID_FIELD: user_id",
        "ITEM_ID_FIELD: item_id",
        *(["RATING_FIELD: rating"] if "rating" in split.train.columns else []),
        *(["TIME_FIELD: timestamp"] if "timestamp" in split.train.columns else []),
        f"load_col: {{inter: [{', '.join(columns)}]}}",
        "# recxbench's protocol: full ranking of every item, the user's history items masked",
        "eval_args: {group_by: user, order: RO, mode: full}",
        "",
    ])
    path = folder / f"{split.name}.yaml"
    path.write_text(config)
    return [*written, path]


def _trec(split: Split, out: Path, final: Path) -> list[Path]:
    written = []
    for part in ("valid", "test"):
        rows = getattr(split, part).sort_values(["user", "item"], kind="stable")
        path = out / f"{part}.qrels"
        lines = rows["user"].astype(str) + " 0 " + rows["item"].astype(str) + " 1"
        path.write_text("".join(line + "\n" for line in lines))
        written.append(path)
    return written


#: format name -> writer(split, staging folder, final folder) returning the files it wrote
FORMATS: dict[str, Callable[[Split, Path, Path], list[Path]]] = {
    "csv": _csv,
    "recbole": _recbole,
    "trec": _trec,
}


def export_split(split_dir: Path, out: Path, fmt: str, *, echo=print) -> list[Path]:
    """Write the split in ``split_dir`` (a ``split@<scenario>`` output) to ``out`` in format ``fmt``;
    returns the files written (``export.json`` last). ``out`` is replaced as a whole, atomically."""
    if fmt not in FORMATS:
        raise RecxError(f"recx export: unknown format {fmt!r}; choose one of {sorted(FORMATS)}")
    split_dir = Path(split_dir)
    manifest = read_manifest(split_dir)
    split = Split.read(split_dir)  # verifies every file against the manifest
    out = Path(out)
    with staged_dir(out) as tmp:
        files = FORMATS[fmt](split, tmp, out.resolve())
        record = {
            "scenario": split.name,
            "format": fmt,
            "split": str(split_dir),
            "source_sha256": manifest["sha256"],
            "files": {str(p.relative_to(tmp)): sha256_file(p) for p in files},
        }
        write_text(tmp / "export.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    written = [out / p.relative_to(tmp) for p in files] + [out / "export.json"]
    echo(f"recx export: {split.name} as {fmt}: {len(files)} file(s) in {out}")
    return written


def read_recbole_inter(path: Path) -> pd.DataFrame:
    """An exported ``.inter`` file back as a frame with the split's column names (``user``,
    ``item``, ...): the inverse of the ``recbole`` writer, used by the tests and handy for checks."""
    frame = pd.read_csv(path, sep="\t")
    back = {v: k for k, v in RECBOLE_FIELDS.items()}
    return frame.rename(columns={c: back.get(c.split(":")[0], c.split(":")[0]) for c in frame.columns})

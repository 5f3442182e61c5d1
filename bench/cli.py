"""``recx`` command line: one sub-command per DVC stage plus listings. Thin: parse, call one library
function, exit. Every error raised on purpose (:class:`~bench.errors.RecxError`) is printed as one
readable line with exit status 2 instead of a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.errors import RecxError

__all__ = ["main"]

DEFAULT_SOURCES = Path("datasets/sources.yaml")
DEFAULT_PARAMS = Path("params.yaml")


def _mirror(arg: str | None) -> Path | None:
    value = arg or os.environ.get("RECX_DATA_MIRROR")
    return Path(value).resolve() if value else None


def _cmd_fetch(args: argparse.Namespace) -> None:
    from bench.data.fetch import fetch_dataset

    out = Path(args.out or f"datasets/raw/{args.dataset}")
    fetch_dataset(args.dataset, sources=Path(args.sources), out=out, mirror=_mirror(args.mirror))


def _cmd_prepare(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.data.prepare import prepare_dataset

    params = load_params(Path(args.params))
    raw = Path(args.raw or f"datasets/raw/{args.dataset}")
    out = Path(args.out or f"datasets/prepared/{args.dataset}")
    prepare_dataset(
        args.dataset,
        sources=Path(args.sources),
        raw=raw,
        out=out,
        options=params.dataset_options(args.dataset),
    )


def _cmd_pair(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.splits.cdr_pairs import build_pair

    spec = load_params(Path(args.params)).pair(args.pair)
    data = build_pair(args.pair, spec, first=Path(args.first), second=Path(args.second), out=Path(args.out))
    st = data.stats
    print(f"recx pair: {args.pair}: {st['n_users']:,} users in both categories, {st['n_items']:,} items, "
          f"{st['n_interactions']:,} interactions -> {args.out}", file=sys.stderr)


def _cmd_datasets(args: argparse.Namespace) -> None:
    from bench.data.sources import describe_datasets

    print(describe_datasets(Path(args.sources)))


def _cmd_methods(args: argparse.Namespace) -> None:
    from bench import methods

    for name in methods.available(args.scenario):
        spec = methods.get(name)
        print(f"{name:20s} {','.join(sorted(spec.scenarios)):24s} {spec.summary}")


def _cmd_split(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.splits.build import build_split

    params = load_params(Path(args.params))
    scenario = params.scenario(args.scenario)
    out = Path(args.out or f"artifacts/splits/{args.scenario}")
    build_split(scenario, prepared=Path(args.prepared or f"datasets/prepared/{scenario.dataset}"), out=out)


def _cmd_run(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.run import run_cell

    params = load_params(Path(args.params))
    out = Path(args.out or f"artifacts/runs/{args.scenario}/{args.method}/{args.seed}")
    outcome = run_cell(
        params,
        scenario=args.scenario,
        method=args.method,
        seed=args.seed,
        split=Path(args.split or f"artifacts/splits/{args.scenario}"),
        out=out,
        tuned=Path(args.tuned) if args.tuned else None,
        fingerprint=Path(args.fingerprint) if args.fingerprint else None,
    )
    if not outcome.ok:  # exit non-zero: DVC must not record a failure as an up-to-date result
        raise RecxError(
            f"cell {args.scenario}/{args.method}/{args.seed} failed: {outcome.record['error']['message']} "
            f"(record with status 'failed' in {out}/record.json; the traceback is above)"
        )
    print(f"recx run: cell {args.scenario}/{args.method}/{args.seed} ok -> {out}", file=sys.stderr)


def _cmd_tune(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.tune import tune_cell

    params = load_params(Path(args.params))
    tune_cell(
        params,
        scenario=args.scenario,
        method=args.method,
        split=Path(args.split or f"artifacts/splits/{args.scenario}"),
        out=Path(args.out or f"artifacts/tuning/{args.scenario}/{args.method}"),
    )


def _cmd_fingerprint(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.fingerprint import write_fingerprints

    params = Path(args.params)
    named = load_params(params).named_configurations() if params.is_file() else {}
    write_fingerprints(Path(args.out), named=named)


def _cmd_report(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.report import build_report

    params = load_params(Path(args.params))
    if args.views_only:
        from bench.report.dvc_views import write_report_views

        done = write_report_views(params, Path(args.out))
        print(f"recx report: metrics/ and plots/ of {len(done)} scenarios in {args.out}")
        return
    build_report(
        params, runs=Path(args.runs), out=Path(args.out), splits=Path(args.splits),
        tuning=Path(args.tuning), prepared=Path(args.prepared), sources=Path(args.sources),
        citation=Path(args.citation),
    )


def _cmd_repro(args: argparse.Namespace) -> None:
    from bench.config import load_params
    from bench.profiles import DEFAULT, workspace
    from bench.repro import repro

    root = workspace(args.profile)
    if args.profile != DEFAULT:
        print(f"recx repro: profile {args.profile!r} runs in {root} (its own dvc.lock, artifacts/ "
              f"and reports/)", file=sys.stderr)
    params = load_params(root / "params.yaml")
    params.validate()  # an unknown method or parameter stops here, before any stage runs
    only = [m for part in args.only for m in part.split(",") if m] if args.only else None
    result = repro(params, jobs=args.jobs or os.cpu_count() or 1, root=root, only=only,
                   executor=args.executor, address=args.address)
    if result.failed:
        raise RecxError(f"{len(result.failed)} stage(s) failed (listed above)")
    print(f"recx repro: done; the report is in {root / 'reports' / 'results.md'}", file=sys.stderr)


def _cmd_status(args: argparse.Namespace) -> None:
    from bench.profiles import workspace
    from bench.repro import status

    stale = status(workspace(args.profile))
    if not stale:
        print("recx status: every stage is up to date")
    for name in sorted(stale):
        print(name)


def _cmd_pipeline(args: argparse.Namespace) -> None:
    from bench.pipeline import declares_pairs, grid_kinds, render_dvc_yaml

    text = render_dvc_yaml(grid_kinds(Path(args.params)), pairs=declares_pairs(Path(args.params)))
    path = Path(args.out)
    if args.check:
        if not path.is_file() or path.read_text() != text:
            raise RecxError(f"{path} is not the rendering of the scenario-kind table; run `recx pipeline`")
        print(f"recx pipeline: {path} is up to date")
        return
    path.write_text(text)
    print(f"recx pipeline: wrote {path}")


def _cmd_export(args: argparse.Namespace) -> None:
    from bench.export import export_split

    split = Path(args.split or f"artifacts/splits/{args.scenario}")
    export_split(split, Path(args.out or f"exports/{args.format}/{args.scenario}"), args.format)


def _cmd_check(args: argparse.Namespace) -> None:
    from bench.config import load_params

    params = load_params(Path(args.params))
    params.validate()
    print(f"{args.params}: OK ({len(params.scenarios)} scenarios, {len(params.seeds)} seeds)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recx", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help)
        sp.set_defaults(func=func)
        return sp

    sp = add("fetch", _cmd_fetch, "download (or copy from the mirror) and verify a dataset's files")
    sp.add_argument("dataset")
    sp.add_argument("--sources", default=str(DEFAULT_SOURCES))
    sp.add_argument("--out")
    sp.add_argument("--mirror", help="mirror folder (default: $RECX_DATA_MIRROR)")

    sp = add("prepare", _cmd_prepare, "parse raw files into the canonical Parquet tables")
    sp.add_argument("dataset")
    sp.add_argument("--sources", default=str(DEFAULT_SOURCES))
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--raw")
    sp.add_argument("--out")

    sp = add("pair", _cmd_pair, "join two prepared categories into a two-domain dataset (params: pairs)")
    sp.add_argument("pair")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--first", required=True)
    sp.add_argument("--second", required=True)
    sp.add_argument("--out", required=True)

    sp = add("datasets", _cmd_datasets, "list declared datasets with size, licence and citation")
    sp.add_argument("--sources", default=str(DEFAULT_SOURCES))

    sp = add("methods", _cmd_methods, "list registered methods")
    sp.add_argument("--scenario", help="only methods supporting this scenario kind (topn, mtl, ...)")

    sp = add("split", _cmd_split, "build one scenario's split and run the leakage audit")
    sp.add_argument("scenario")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--prepared")
    sp.add_argument("--out")

    sp = add("fingerprint", _cmd_fingerprint, "hash the code on every (kind, method) cell path")
    sp.add_argument("--out", default="artifacts/fingerprints")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS), help="for its named configurations")

    sp = add("tune", _cmd_tune, "tune one method on one scenario's train/valid (params.yaml: tuning)")
    sp.add_argument("scenario")
    sp.add_argument("method")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--split")
    sp.add_argument("--out")

    sp = add("run", _cmd_run, "fit and evaluate one (scenario, method, seed) cell")
    sp.add_argument("scenario")
    sp.add_argument("method")
    sp.add_argument("seed", type=int)
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--split")
    sp.add_argument("--out")
    sp.add_argument("--tuned", help="best.json of the tune stage: run with its params")
    sp.add_argument("--fingerprint",
                    help="the cell's file from the fingerprint stage (else it is computed)")

    sp = add("report", _cmd_report, "aggregate run records into reports/")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    sp.add_argument("--runs", default="artifacts/runs")
    sp.add_argument("--splits", default="artifacts/splits")
    sp.add_argument("--tuning", default="artifacts/tuning")
    sp.add_argument("--prepared", default="datasets/prepared",
                    help="prepared datasets (raw-file sha256 of the provenance)")
    sp.add_argument("--sources", default=str(DEFAULT_SOURCES), help="dataset citations and licences")
    sp.add_argument("--citation", default="CITATION.cff", help="the software citation")
    sp.add_argument("--out", default="reports")
    sp.add_argument("--views-only", action="store_true",
                    help="only rewrite metrics/ and plots/ (what `dvc metrics|plots show` read) from "
                         "the report's results.csv and significance.csv")

    sp = add("repro", _cmd_repro, "`dvc repro` with the tune stages and run cells in parallel")
    sp.add_argument("--jobs", type=int, default=0, help="parallel stages (default: number of cores)")
    sp.add_argument(
        "--profile", default="default",
        help="default (params.yaml), a name from profiles/ (ci, tuned) or a params YAML path; a "
             "profile other than default runs in workspaces/<name>/",
    )
    sp.add_argument("--only", action="append", metavar="METHOD[,METHOD...]",
                    help="run only the tune stages and cells of these methods (repeatable)")
    sp.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="where the tune stages and cells run: local processes, or Ray tasks "
                         "(`pip install recxbench[ray]`; a local cluster bound to 127.0.0.1 unless "
                         "--address); DVC records every stage either way")
    sp.add_argument("--address", help="with --executor ray: join this existing Ray cluster "
                                      "(it must share this working directory and live on a "
                                      "private network: Ray's endpoints have no authentication)")

    sp = add("status", _cmd_status,
             "refresh the code fingerprints, then list the stale stages (what `recx repro` would run)")
    sp.add_argument("--profile", default="default")

    sp = add("pipeline", _cmd_pipeline,
             "write dvc.yaml from the stage templates and the scenario-kind table (bench/pipeline.py)")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS), help="whose grid's kinds get stages")
    sp.add_argument("--out", default="dvc.yaml")
    sp.add_argument("--check", action="store_true", help="only check that it is up to date")

    sp = add("export", _cmd_export,
             "write one scenario's exact split for another framework (RecBole atomic files, CSV, "
             "TREC qrels)")
    sp.add_argument("scenario")
    sp.add_argument("--format", default="csv", choices=("csv", "recbole", "trec"))
    sp.add_argument("--split", help="the split folder (default: artifacts/splits/<scenario>)")
    sp.add_argument("--out", help="output folder (default: exports/<format>/<scenario>)")

    sp = add("check", _cmd_check, "validate params.yaml without running anything")
    sp.add_argument("--params", default=str(DEFAULT_PARAMS))
    return p


def main(argv: list[str] | None = None) -> int:
    worker = os.environ.pop("RECX_DIE_WITH_PARENT", "")  # a Ray task's stage command: its worker's pid
    if worker.isdigit():
        from bench.ray_executor import die_with_parent

        die_with_parent(int(worker))
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except RecxError as exc:
        print(f"recx {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

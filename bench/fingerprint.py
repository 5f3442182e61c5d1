"""The ``fingerprint`` stage: the code identity of every (scenario kind, method) cell path.

A tune or run cell's numbers can change when any module on its path changes: the method's own
module, the shared helpers it imports (``methods/_torch.py``, ``bench/methods.py`` ...), and the
harness of its scenario kind (``bench/run.py``, ``bench/cells/<kind>.py``, ``bench/evaluate.py``,
``bench/metrics`` ...), as well as the third-party libraries those import. This module finds that
set by reading import statements (function-level ones included) from the method's module and the
kind's harness roots, and hashes each module's *syntax tree* without docstrings, comments or line
numbers, so an edit of documentation leaves the fingerprint unchanged while any code edit changes
it. One JSON file per (kind, method) — ``artifacts/fingerprints/<kind>/<method>.json`` — is a DVC
dependency of exactly the run cells of that method and kind, and ``artifacts/fingerprints/tune/
<method>.json`` (the method plus :mod:`bench.tune`'s path) of its ``tune-<kind>@`` stages, so an edit of the
run harness does not rerun tuning. The Python version (major.minor) is part of every fingerprint.

A method from an installed distribution (a plugin) is fingerprinted the same way over its own
package, plus the distribution's name and version.

Not followed: ``bench.data`` (the ``prepare`` stage's code: cells only see its output, which DVC
hashes as data) and imports of modules named by strings (``importlib.import_module``), which is how
the registry loads plugins and :mod:`bench.kinds` names a kind's runner — that is why the runner
module of the kind's row is added to :data:`HARNESS_ROOTS` as a root.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from bench.atomic import staged_dir
from bench import kinds as kind_table

__all__ = ["HARNESS_ROOTS", "TUNE", "TUNE_ROOTS", "Fingerprint", "fingerprint", "write_fingerprints"]

#: modules every run cell runs through, whatever its kind (the kind's runner module is added)
HARNESS_ROOTS = ("bench.run",)

#: the pseudo-kind of the tune stages: their harness is the tuner alone
TUNE = "tune"
TUNE_ROOTS = ("bench.tune",)

#: packages whose code reaches a cell only through a DVC output that is hashed as data
NOT_FOLLOWED = ("bench.data",)

#: top-level packages of this repository (a built-in method's code is hashed, not versioned)
LOCAL = ("bench", "methods")


@dataclass(frozen=True)
class Fingerprint:
    """What can change the numbers of one (kind, method) cell: module name -> sha256 of its
    normalised syntax tree, third-party distribution -> version, and the plugin distribution."""

    kind: str
    method: str
    cls: str
    modules: Mapping[str, str]
    packages: Mapping[str, str]
    plugin: Mapping[str, str] | None = None
    python: str = f"{sys.version_info.major}.{sys.version_info.minor}"

    def to_json(self) -> str:
        doc = {
            "kind": self.kind,
            "method": self.method,
            "class": self.cls,
            "plugin": self.plugin,
            "python": self.python,
            "modules": dict(sorted(self.modules.items())),
            "packages": dict(sorted(self.packages.items())),
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        """The fingerprint a :meth:`to_json` text describes."""
        doc = json.loads(text)
        return cls(
            kind=doc["kind"], method=doc["method"], cls=doc["class"], modules=doc["modules"],
            packages=doc["packages"], plugin=doc.get("plugin"), python=doc["python"],
        )


def fingerprint(kind: str, method: str) -> Fingerprint:
    """The fingerprint of ``method``'s run cells in scenario kind ``kind`` (or of its tune stages
    for ``kind`` = :data:`TUNE`)."""
    from bench import methods

    spec = methods.get(method)
    module = spec.cls.__module__
    top = module.split(".")[0]
    local = set(LOCAL) | {top}
    harness = TUNE_ROOTS if kind == TUNE else (*HARNESS_ROOTS, _module_of(kind_table.get(kind).runner))
    roots = [module, *harness]
    modules, third_party = _closure(roots, frozenset(local))
    plugin = None
    if top not in LOCAL:
        dist = _distribution(top)
        plugin = {"distribution": dist, "version": _version(dist)} if dist else {"distribution": None}
    packages = {dist: _version(dist) for name in third_party if (dist := _distribution(name))}
    return Fingerprint(
        kind=kind, method=method, cls=f"{module}.{spec.cls.__qualname__}",
        modules={name: _tree_sha256(name) for name in modules}, packages=packages, plugin=plugin,
    )


def write_fingerprints(out: Path, *, echo=print) -> list[Path]:
    """Write ``out/<kind>/<method>.json`` for every registered method and kind it supports, and
    ``out/tune/<method>.json`` for every method."""
    from bench import methods

    written = []
    with staged_dir(Path(out)) as tmp:
        for name in methods.available():
            for kind in [*sorted(methods.get(name).scenarios & set(kind_table.kinds())), TUNE]:
                path = tmp / kind / f"{name}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(fingerprint(kind, name).to_json())
                written.append(Path(out) / kind / f"{name}.json")
    echo(f"recx fingerprint: {len(written)} (kind, method) fingerprints in {out}")
    return written


def _module_of(target: str) -> str:
    return target.partition(":")[0]


# ----------------------------------------------------------------------------- import closure
def _closure(roots: Iterable[str], local: frozenset[str]) -> tuple[list[str], list[str]]:
    """Local modules reachable from ``roots`` (with their parent packages) and the top-level names of
    the third-party packages they import."""
    seen: set[str] = set()
    third: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or _not_followed(name):
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parents run on import
        for imported in _imports(name, local):
            head = imported.split(".")[0]
            if head in local:
                todo.append(imported)
            elif head not in sys.stdlib_module_names and head != "__future__":
                third.add(head)
    return sorted(seen), sorted(third)


def _not_followed(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in NOT_FOLLOWED)


@cache
def _source(name: str) -> tuple[Path, bool]:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise LookupError(f"recx fingerprint: cannot find the Python source of module {name!r}")
    return Path(spec.origin), spec.submodule_search_locations is not None


@cache
def _tree(name: str) -> ast.Module:
    path, _ = _source(name)
    return ast.parse(path.read_bytes(), filename=str(path))  # bytes: the file's own encoding


@cache
def _imports(name: str, local: frozenset[str]) -> tuple[str, ...]:
    """Modules named by the import statements of ``name`` (absolute; ``from p import m`` yields
    ``p.m`` when ``m`` is a submodule of package ``p``). Cached: every (kind, method) closure walks
    the same harness modules."""
    _, is_package = _source(name)
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append(target)
            if target.split(".")[0] in local:  # never import a third-party package to find out
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if _is_module(sub):
                        out.append(sub)
    return tuple(out)


@cache
def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


@cache
def _tree_sha256(name: str) -> str:
    """sha256 of the module's syntax tree with docstrings removed and no positions: comments,
    docstrings, blank lines and formatting do not count; any code edit does."""
    path, _ = _source(name)
    tree = ast.parse(path.read_bytes(), filename=str(path))  # a copy: the docstrings are cut below
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:]
    dump = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dump.encode()).hexdigest()


def _distribution(top: str) -> str | None:
    names = _top_level_distributions().get(top)
    return sorted(names)[0] if names else None


@cache
def _top_level_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


@cache
def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"

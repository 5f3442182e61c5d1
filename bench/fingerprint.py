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
the registry loads plugins and :mod:`bench.kinds` names a kind's runner and tuner — that is why the
runner module of the kind's row is added to :data:`HARNESS_ROOTS` as a root, and to a method's
:data:`TUNE_ROOTS` the tuner modules of the tunable kinds it supports.
"""

from __future__ import annotations

import ast
import copy
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
    harness = (
        (*TUNE_ROOTS, *_tuner_modules(spec.scenarios)) if kind == TUNE
        else (*HARNESS_ROOTS, _module_of(kind_table.get(kind).runner))
    )
    roots = [module, *harness]
    modules, third_party = _closure(roots, frozenset(local))
    relevant = frozenset(spec.scenarios & set(kind_table.kinds())) if kind == TUNE else frozenset({kind})
    views = _kind_views(tuple(modules), relevant)
    plugin = None
    if top not in LOCAL:
        dist = _distribution(top)
        plugin = {"distribution": dist, "version": _version(dist)} if dist else {"distribution": None}
    packages = {dist: _version(dist) for name in third_party if (dist := _distribution(name))}
    return Fingerprint(
        kind=kind, method=method, cls=f"{module}.{spec.cls.__qualname__}",
        modules={name: _tree_sha256(name, views.get(name, frozenset())) for name in modules},
        packages=packages, plugin=plugin,
    )


def write_fingerprints(out: Path, *, named: Mapping[str, str] | None = None, echo=print) -> list[Path]:
    """Write ``out/<kind>/<method>.json`` for every registered method and kind it supports, and
    ``out/tune/<method>.json`` for every method; a named configuration (``named``: name -> its
    registered method, :meth:`bench.config.Params.named_configurations`) gets its method's files
    under its own name (same code; its block is a params dependency of its cells)."""
    from bench import methods

    written = []
    names = {name: name for name in methods.available()} | dict(named or {})
    with staged_dir(Path(out)) as tmp:
        for name, base in names.items():
            for kind in [*sorted(methods.get(base).scenarios & set(kind_table.kinds())), TUNE]:
                path = tmp / kind / f"{name}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(fingerprint(kind, base).to_json())
                written.append(Path(out) / kind / f"{name}.json")
    echo(f"recx fingerprint: {len(written)} (kind, method) fingerprints in {out}")
    return written


def _tuner_modules(kinds: Iterable[str]) -> tuple[str, ...]:
    """The tuner modules of the tunable ones of ``kinds`` (the kinds a method supports; named by
    string in :mod:`bench.kinds`, so not reached by the import walk): a method's tune stages run
    through one of them, so an edit of another kind's tuner leaves its tuning up to date."""
    table = kind_table.kinds()
    return tuple(dict.fromkeys(
        _module_of(table[k].tuner) for k in sorted(kinds) if k in table and table[k].tunable and table[k].tuner
    ))


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


# ----------------------------------------------------------------------------- per-kind views
#: the fields of a kind row that name an object (``"module:attribute"``)
ROW_FIELDS = ("settings", "split", "audit", "data", "protocol", "runner", "contract", "tuner", "prepared")


def _kind_views(modules: tuple[str, ...], relevant: frozenset[str]) -> dict[str, frozenset[str]]:
    """Per module of a closure, the top-level names that belong to OTHER scenario kinds than
    ``relevant`` and are left out of its hash: objects named only by other kinds' rows of the kind
    table (``bench.config:MTLScenario`` for a top-N cell, ``bench.methods:MTLMethod`` ...), the rows
    themselves in :mod:`bench.kinds` (by kind name), and the definitions referred to only from
    left-out code (a base class or helper of another kind's settings). A name stays in when a
    relevant kind's row names it, it is a base class of such an object, any remaining code of the
    closure refers to it, or nothing refers to it at all (it may be looked up by name) -- so an
    edit of one kind's settings or row does not restale the cells of the others, while everything
    a cell can reach still counts."""
    table = kind_table.kinds()
    foreign_kinds = frozenset(table) - relevant
    named: dict[str, dict[str, set[str]]] = {}
    for row in table.values():
        for field_name in ROW_FIELDS:
            target = getattr(row, field_name, None)
            if isinstance(target, str) and ":" in target:
                mod, _, attr = target.partition(":")
                named.setdefault(mod, {}).setdefault(attr, set()).add(row.name)
    drop: dict[str, set[str]] = {}
    for mod in modules:
        attrs = named.get(mod, {})
        keep = {a for a, ks in attrs.items() if ks & relevant}
        for a in list(keep):
            keep |= _local_bases(mod, a)
        drop[mod] = {a for a, ks in attrs.items() if not ks & relevant} - keep
        if mod == "bench.kinds":
            drop[mod] |= {f"kind:{k}" for k in foreign_kinds}
    full = set().union(*(_refs(m, frozenset()) for m in modules))
    while True:
        # keep every name the remaining code of the closure refers to; leave out, too, the
        # definitions referred to only from left-out code (a base class or helper of another
        # kind's settings); a definition nothing refers to stays (it may be looked up by name)
        used = set().union(*(_refs(m, frozenset(drop[m])) for m in modules))
        only_dropped = {m: {n for n in _top_level_defs(m) if n in full and n not in used
                            and n not in drop[m] and not n.startswith("__")} for m in modules}
        back = {m: {n for n in drop[m] if n in used} for m in modules}
        if not any(back.values()) and not any(only_dropped.values()):
            return {m: frozenset(d) for m, d in drop.items() if d}
        for m in modules:
            drop[m] = (drop[m] - back[m]) | only_dropped[m]


@cache
def _local_bases(module: str, attr: str) -> frozenset[str]:
    """Names, in ``module``, of the classes ``module.attr`` inherits from (empty for a non-class)."""
    try:
        obj = kind_table.load(f"{module}:{attr}")
    except Exception:  # noqa: BLE001 - an unloadable row is reported by `recx check`, not here
        return frozenset()
    return frozenset(c.__name__ for c in getattr(obj, "__mro__", ())[1:] if c.__module__ == module)


@cache
def _top_level_defs(module: str) -> frozenset[str]:
    """Names of the top-level functions and classes of ``module``."""
    return frozenset(n.name for n in _tree(module).body
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


@cache
def _refs(module: str, drop: frozenset[str]) -> frozenset[str]:
    """:func:`_referenced` of the module's view without ``drop`` (cached: the closures of all
    (kind, method) pairs share most modules and views)."""
    return frozenset(_referenced(_pruned(module, drop) if drop else _tree(module)))


def _referenced(tree: ast.Module) -> set[str]:
    """Every identifier the tree uses (names, attribute names) outside its own definitions' names."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def _kind_of_row(node: ast.AST) -> str | None:
    """The kind name of a row expression of the kinds table (``Kind(name="x", ...)`` or a helper
    call whose first argument is the name), else None."""
    if not isinstance(node, ast.Call):
        return None
    for kw in node.keywords:
        if kw.arg == "name" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
            return kw.value.value
    if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _pruned(name: str, drop: frozenset[str]) -> ast.Module:
    """A copy of the module's tree without the top-level definitions in ``drop`` and, for
    ``kind:<name>`` entries, without that kind's row expressions."""
    tree = copy.deepcopy(_tree(name))
    if not drop:
        return tree
    tree.body = [n for n in tree.body
                 if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name in drop)
                 and not (isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) and t.id in drop for t in n.targets))]
    rows = {d.partition(":")[2] for d in drop if d.startswith("kind:")}
    if rows:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List)):
                node.elts = [e for e in node.elts if _kind_of_row(e) not in rows]
    return tree


@cache
def _tree_sha256(name: str, drop: frozenset[str] = frozenset()) -> str:
    """sha256 of the module's syntax tree (its per-kind view without ``drop``, see
    :func:`_kind_views`) with docstrings removed and no positions: comments, docstrings, blank
    lines and formatting do not count; any code edit does."""
    tree = _pruned(name, drop)  # a copy: the docstrings are cut below
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

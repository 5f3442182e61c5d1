"""The DVC side of ``recx repro``'s parallel phases, through DVC's Python API in the driver process.

Running a stage with ``dvc repro --single-item <stage>`` costs ~5.6 s beyond its command on this
project: every such process parses the 250-stage ``dvc.yaml``, and rewrites the ~23,000-line
``dvc.lock`` with a round-trip YAML parser (measured: 8.2 s for a 2.6-s ``random`` cell). So the
driver does what ``dvc status`` and ``dvc repro`` do for a stage, with the same DVC calls, itself
(``dvc/repo/status.py``, ``dvc/stage/run.py`` and ``dvc/repo/commit.py`` of the pinned DVC), in one
process that loads DVC once:

- :meth:`Ledger.stale`: the stages ``dvc status`` would list (``Repo.status``), against ``dvc.yaml``
  and ``dvc.lock`` as they are on disk;
- :meth:`Ledger.begin`: remove the stage's outputs (``Stage.remove_outs``), then restore them from
  DVC's run cache when it was run before with the same deps and params (``stage_cache.restore``;
  no command then); else hand back its command, which the caller runs with ``DVC_ROOT`` /
  ``DVC_STAGE`` set as ``dvc repro`` sets them;
- :meth:`Ledger.finished`: after the command exited 0, hash deps and outputs, save the run-cache
  entry and move the outputs into the cache (``Stage.save`` + ``Stage.commit``) at once, so a
  finished stage survives even a killed driver (the next run restores it from the run cache);
- :meth:`Ledger.flush`: write the finished stages into ``dvc.lock`` (``ProjectFile.dump_stages``),
  at most every :data:`FLUSH_S` seconds and always at the end of a phase and on an interrupt.

A failed command is never saved or committed, so ``dvc.lock`` never records it. Every call holds
DVC's repository lock (waiting for it, like ``dvc --wait-for-lock``) only while it touches the
repository, never while a command runs.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import RecxError

__all__ = ["FLUSH_S", "Ledger"]

#: seconds between two writes of ``dvc.lock`` while stages keep finishing (one write: ~2.8 s)
FLUSH_S = 120.0


class Ledger:
    """The stages of one ``recx repro`` run, as DVC sees them (see module doc)."""

    def __init__(self, root: Path, *, flush_s: float = FLUSH_S):
        self.root = Path(root)
        self.flush_s = flush_s
        self._repo: Any = None
        self._stages: dict[str, Any] = {}
        self._pending: list[Any] = []
        self._flushed = time.monotonic()

    def open(self) -> Ledger:
        """Load the repository (once per run)."""
        from dvc.exceptions import DvcException
        from dvc.repo import Repo

        # DVC's INFO lines ("Stage ... is cached - skipping run") would break the progress line;
        # the stage's own log says it was restored
        logging.getLogger("dvc").setLevel(logging.WARNING)
        try:
            self._repo = Repo(str(self.root), _wait_for_lock=True)
        except DvcException as exc:  # not a DVC project, a broken config ...
            raise RecxError(f"DVC cannot open the project in {self.root}: {exc}") from exc
        return self

    def stale(self) -> set[str]:
        """The stages ``dvc status`` lists now (changed deps, params, outputs or command; the
        ``always_changed`` ones), from ``dvc.yaml`` and ``dvc.lock`` as on disk plus the workspace.
        Stages saved since the last :meth:`flush` may still be listed (their ``dvc.lock`` entry is
        not written yet); the stages of later :meth:`begin` calls are the ones loaded here.

        Raises:
            RecxError: when DVC cannot read the pipeline (the message is DVC's).
        """
        from dvc.exceptions import DvcException

        with self._locked():
            try:
                changed = set(self._repo.status())
                self._stages = {s.name: s for s in self._repo.index.stages}
            except DvcException as exc:
                raise RecxError(f"`dvc status` failed in {self.root}: {exc}") from exc
        return changed

    def close(self) -> None:
        """Flush what finished and release the repository (again: nothing)."""
        if self._repo is None:
            return
        try:
            self.flush(force=True)
        finally:
            self._repo.close()
            self._repo = None

    def begin(self, name: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]] | None:
        """Prepare stage ``name`` to run: ``None`` when it was restored from the run cache (and is
        recorded like a finished stage), else the arguments and environment to run its command
        with, as ``dvc repro`` builds them (``$SHELL -c``, ``DVC_ROOT`` and ``DVC_STAGE`` over
        ``env``).

        Raises:
            RecxError: when DVC fails on the stage (it is then not run).
        """
        from dvc.stage.cache import RunCacheNotFoundError
        from dvc.stage.run import _enforce_cmd_list, _make_cmd, get_executable, prepare_kwargs

        from dvc.exceptions import DvcException

        stage = self._stage(name)
        with self._locked():
            missing = [str(dep) for dep in stage.deps if not dep.exists]
            if missing:
                raise RecxError(f"stage {name!r} cannot run: its dependencies {missing} do not exist "
                                "(the stages that write them failed or have not run)")
            try:
                stage.remove_outs(ignore_remove=False, force=False)  # first, as in Stage.run
                try:
                    self._repo.stage_cache.restore(stage)
                except RunCacheNotFoundError:
                    pass
                else:
                    self._save(stage)
                    return None
            except (DvcException, OSError) as exc:
                raise RecxError(f"DVC could not prepare stage {name!r}: {exc}") from exc
        command = " && ".join(_enforce_cmd_list(stage.cmd))
        return _make_cmd(get_executable(), command), prepare_kwargs(stage, run_env=env)["env"]

    def finished(self, name: str) -> None:
        """Stage ``name``'s command exited 0: save and commit it (``dvc.lock`` on the next flush).

        Raises:
            RecxError: when DVC cannot save it (e.g. the command did not write a declared output);
                the stage is then not recorded.
        """
        from dvc.exceptions import DvcException

        with self._locked():
            try:
                self._save(self._stage(name))
            except (DvcException, OSError) as exc:
                raise RecxError(f"DVC could not record stage {name!r}: {exc}") from exc

    def flush(self, *, force: bool = False) -> None:
        """Write the finished stages into ``dvc.lock`` (when ``force`` or :data:`FLUSH_S` passed)."""
        if not self._pending or not (force or time.monotonic() - self._flushed >= self.flush_s):
            return
        with self._locked():
            by_file: dict[str, list[Any]] = {}
            for stage in self._pending:
                by_file.setdefault(stage.dvcfile.path, []).append(stage)
            for stages in by_file.values():
                stages[0].dvcfile.dump_stages(stages, update_pipeline=False)
        self._pending.clear()
        self._flushed = time.monotonic()

    # ------------------------------------------------------------------------------------------
    def _save(self, stage: Any) -> None:
        # as Stage.run: no run-cache entry for a stage with an uncached output (fingerprint, report)
        uncached = any(not out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))
        stage.save(run_cache=not uncached)
        stage.commit()
        self._pending.append(stage)

    def _stage(self, name: str) -> Any:
        if not self._stages:
            self.stale()
        try:
            return self._stages[name]
        except KeyError:
            raise RecxError(f"dvc.yaml has no stage {name!r} (in {self.root / 'dvc.yaml'})") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """DVC's repository lock, with the working directory at the repository root (DVC resolves
        stage paths against it, as when ``dvc`` runs there)."""
        from dvc.repo import lock_repo

        with contextlib.chdir(self.root), lock_repo(self._repo):
            yield


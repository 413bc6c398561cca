"""Where a training run writes, and the rules that keep a user's files safe.

- No ``--out``: runs are numbered, ``runs/train``, ``runs/train2``, ... (never reused).
- An existing non-empty folder is written only if it holds a fingerspell run (recognised by its
  own ``config.json``): ``--resume`` continues it, ``--force`` replaces it. Any other folder is
  refused, with or without ``--force``: nothing the program did not create is ever deleted.
- ``--force`` builds the new run beside the old one (``.NAME.partial``) and swaps it in only
  once it has succeeded: an interrupted or failed run leaves the old model as it was. The
  interrupted replacement can be continued with ``--resume`` or restarted with ``--force``.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import FingerspellError
from ..jsonfile import read_json
from ..paths import RUNS, numbered_dir

CONFIG_FILE = "config.json"
RUN_KIND = "fingerspell-run"  # config.json's "kind" in a run folder


def is_run_folder(folder: Path) -> bool:
    """A folder written by ``fingerspell train`` (its config.json says so)."""
    try:
        config = read_json(folder / CONFIG_FILE, "run configuration")
    except FingerspellError:
        return False
    if not isinstance(config, dict):
        return False
    # runs of version 0.1 had no "kind": they are recognised by their own fields
    return config.get("kind") == RUN_KIND or {"fingerspell_version", "recipe", "data", "out"} <= set(config)


def numbered_run_dir() -> Path:
    """The next free ``runs/train<N>`` (in the current folder)."""
    return numbered_dir(RUNS / "train")


def staging_dir(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial")


@dataclass(frozen=True)
class RunFolder:
    """``final`` is where the user pointed; ``work`` is where this run writes (the same folder,
    or a staging folder beside it when replacing an existing run)."""

    final: Path
    work: Path

    @property
    def replacing(self) -> bool:
        return self.work != self.final


def _refuse_foreign(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise FingerspellError(f"{folder}: exists and is not a folder; choose another --out")
    if folder.is_dir() and any(folder.iterdir()) and not is_run_folder(folder):
        raise FingerspellError(f"{folder}: folder is not empty and holds no fingerspell run; "
                               f"nothing in it is touched (choose another --out)")


def refuse_inside_data(out: Path, data_dirs: list[str | Path]) -> None:
    """A run folder inside a data folder would be read as data by the next run on it (its
    pictures and checkpoints as images of a class named ``model``): refused."""
    out = Path(out).resolve()
    for data in data_dirs:
        data = Path(data).resolve()
        if out == data or out.is_relative_to(data):
            raise FingerspellError(f"{out}: --out is inside the data folder {data}; the next run "
                                   f"on that folder would read the run as data (choose a folder "
                                   f"outside it)")


def plan_run_folder(out: Path, *, resume: bool, force: bool) -> RunFolder:
    """Check ``out`` against the rules above (nothing is written yet)."""
    out = out.resolve()
    _refuse_foreign(out)
    staged = staging_dir(out)
    if resume:
        if is_run_folder(staged):  # an interrupted --force replacement: continue it
            return RunFolder(out, staged)
        if not is_run_folder(out):
            raise FingerspellError(f"{out}: nothing to resume (no fingerspell run there); start "
                                   f"the run without --resume")
        return RunFolder(out, out)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FingerspellError(f"{out}: holds a fingerspell run; --resume continues it, "
                                   f"--force replaces it once the new run has succeeded")
        _refuse_foreign(staged)
        return RunFolder(out, staged)
    return RunFolder(out, out)


def start_run_folder(folder: RunFolder) -> None:
    """Create the folder this run writes to (a stale staging folder of ours is started over)."""
    if folder.replacing and folder.work.exists():
        shutil.rmtree(folder.work)  # our own interrupted replacement (checked by plan_run_folder)
    folder.work.mkdir(parents=True, exist_ok=True)


def finish_run_folder(folder: RunFolder) -> None:
    """Swap a successful replacement in place of the old run (two renames), then remove the old
    run, which ``plan_run_folder`` checked is a fingerspell run."""
    if not folder.replacing:
        return
    old = folder.final.with_name(f".{folder.final.name}.old")
    if old.exists():  # left by an earlier swap that stopped half-way
        if not is_run_folder(old):
            raise FingerspellError(f"{old}: in the way of the swap and not a fingerspell run; "
                                   f"move it away (the new run is in {folder.work})")
        shutil.rmtree(old)
    os.replace(folder.final, old)
    os.replace(folder.work, folder.final)
    shutil.rmtree(old, ignore_errors=True)

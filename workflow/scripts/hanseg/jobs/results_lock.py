"""One run at a time per results folder: the lock `<results_dir>/.hanseg-run.lock`.

Snakemake locks its working directory only (`.snakemake/locks`): two runs started from two folders whose configs name
the same `results_dir` would write the same files at once. So the main process of each real run takes this lock in
`onstart` (after the DAG is built, before the first job; never in a dry run, never in a job) and removes it in
`onsuccess` and `onerror` (`common.smk`). The lock names its holder as the run record does (:func:`hanseg.jobs.
run_state.this_run`: host, pid, process start, working folder, command line), and whether the holder still runs is
the run record's test (:func:`hanseg.jobs.run_state.process_alive`):

- no lock: the run takes it, atomically (a hard link to a complete file; two runs starting together cannot both win);
- a live run: refused, with one line naming it (from another folder; in the same folder Snakemake's own lock stops
  a second run first, unless that lock was removed with `--unlock` while the run was alive);
- a dead run on this host (its pid gone, or reused by another process): stale, replaced, with one line that says so;
- a run on another host: its process cannot be checked from here, so the run is refused, with the command that
  removes the lock once that run is known to be dead; except when it was started from the same working folder,
  whose Snakemake lock this run now holds: that run has ended, and its lock is replaced.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from hanseg.jobs.run_state import process_alive, this_run

LOCK_NAME = ".hanseg-run.lock"
#: Laps of :func:`take`: each one is lost only to another run that took or replaced the lock meanwhile.
ATTEMPTS = 10


class LockHeld(Exception):
    """Another run holds the results folder: the message is the one line that names it and says what to do."""


def lock_path(results_dir: Path | str) -> Path:
    return Path(results_dir) / LOCK_NAME


def _read(path: Path) -> tuple[bytes, dict | None] | None:
    """The lock's bytes and what they say (None when unreadable: being written, or damaged); None without a lock."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(raw)
    except ValueError:
        return raw, None
    return raw, holder if isinstance(holder, dict) else None


def _create(path: Path, holder: dict) -> bool:
    """Write `holder` as the lock unless one exists, atomically also on NFS: a complete file under a name of this
    process, hard-linked to the lock's name (the link count tells whether it took, even where NFS misreports)."""
    text = json.dumps(holder, indent=1) + "\n"
    temporary = path.with_name(f"{path.name}.{holder['host']}.{holder['pid']}.tmp")
    temporary.write_text(text)
    try:
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: O_EXCL, atomic on local disks and NFSv3 or later
            return _create_exclusive(path, text)
        return temporary.stat().st_nlink == 2
    finally:
        temporary.unlink(missing_ok=True)


def _create_exclusive(path: Path, text: str) -> bool:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return True


def _remove_replaced(path: Path, seen: bytes) -> None:
    """Remove the lock judged replaceable, unless another run replaced it meanwhile: then it is put back, and the
    next lap judges the new one. (Three runs starting within the same instant beside a stale lock could still get
    past this; two cannot.)"""
    moved = path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.replaced")
    try:
        os.rename(path, moved)  # atomic: of two runs replacing the same lock, one moves it
    except FileNotFoundError:
        return
    if moved.read_bytes() != seen:
        os.rename(moved, path)
    else:
        moved.unlink()


def _holder(holder: dict) -> str:
    return (
        f"the run started {holder.get('started', '?')} on {holder.get('host', '?')} (pid {holder.get('pid', '?')}) "
        f"from {holder.get('workdir', '?')}"
    )


def _verdict(holder: dict, ours: dict, results: Path) -> str:
    """The line to log when the lock `holder` may be replaced by this run; raises :class:`LockHeld` when not."""
    alive = process_alive(holder)
    if alive is False:
        return f"hanseg: replaced the stale lock of {results}: {_holder(holder)} is no longer running"
    if alive is None and holder.get("workdir") == ours["workdir"]:
        # Started on another host from this folder: Snakemake's lock of the folder, which this run holds, says it ended.
        return f"hanseg: replaced the lock of {results} left by {_holder(holder)}, an earlier run of this folder"
    if alive:
        raise LockHeld(
            f"{results} is in use by {_holder(holder)}, which is still running: wait for it to end, or give this "
            "run another results_dir"
        )
    raise LockHeld(
        f"{results} is in use by {_holder(holder)}, which cannot be checked from {ours['host']}: wait for it to "
        f"end, or give this run another results_dir; if that run is known to be dead: rm {lock_path(results)}"
    )


def take(results_dir: Path | str, workdir: Path | str = ".") -> str | None:
    """Take the lock of `results_dir` for this run: the line to log when it replaced another run's lock, None when
    there was none. Raises :class:`LockHeld` (its message one line) when another run holds it."""
    results = Path(workdir, results_dir).resolve()
    path = lock_path(results)
    results.mkdir(parents=True, exist_ok=True)
    ours = this_run(workdir)
    note = None
    for _ in range(ATTEMPTS):
        if _create(path, ours):
            return note
        found = _read(path)
        if found is None:  # removed meanwhile
            continue
        raw, holder = found
        if holder is None:  # being written (a file system without hard links), or damaged
            time.sleep(0.2)
            continue
        if _ours(holder, ours):
            return note
        note = _verdict(holder, ours, results)
        _remove_replaced(path, raw)
    raise LockHeld(
        f"{path} could not be taken (unreadable, or changing): retry; if no other run uses {results}: rm {path}"
    )


def _ours(holder: dict | None, ours: dict) -> bool:
    return bool(holder) and all(holder.get(key) == ours[key] for key in ("host", "pid", "process_start"))


def release(results_dir: Path | str, workdir: Path | str = ".") -> None:
    """Remove the lock of `results_dir` if this process holds it (`onsuccess`, `onerror`)."""
    path = lock_path(Path(workdir, results_dir).resolve())
    found = _read(path)
    if found and _ours(found[1], this_run(workdir)):
        path.unlink(missing_ok=True)


def _state(holder: dict) -> str:
    alive = process_alive(holder)
    if alive:
        return "ALIVE: a run from another folder with this results_dir is refused until it ends"
    if alive is False:
        return "DEAD: a stale lock; the next run replaces it"
    return f"UNKNOWN: started on another host; run `hanseg status {holder.get('workdir', '')}` there"


def describe(workdir: Path, record: dict | None) -> str:
    """`hanseg status`'s line on the results folder's lock: the one of the run record's results_dir, or of `workdir`
    itself when it is a results folder."""
    folders = [Path(record["results_dir"])] if record and record.get("results_dir") else []
    for folder in [*folders, workdir]:
        found = _read(lock_path(folder))
        if found is None:
            continue
        if found[1] is None:
            return f"results folder lock ({lock_path(folder)}): unreadable (being written, or damaged)"
        return f"results folder lock ({lock_path(folder)}): held by {_holder(found[1])}; {_state(found[1])}"
    if folders:
        return f"results folder lock: none ({folders[0]})"
    return "results folder lock: none here (for a results_dir elsewhere: hanseg status RESULTS_DIR)"

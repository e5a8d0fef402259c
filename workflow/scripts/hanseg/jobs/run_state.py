"""Is a Snakemake run in this folder alive, what did a dead one leave incomplete, and the one command that resumes it.

After a kill (SIGKILL, a closed terminal, a login node's reboot) Snakemake's own messages mislead: the next run stops
at `IncompleteFilesException`, then `--rerun-incomplete` stops at `LockException`, and a second run started while
the first is *alive* is told the same, which invites unlocking a live run. So the workflow records each real run
(`onstart`, `onsuccess`, `onerror` in `common.smk`): the main process's id and start time, the host, the command
line and the folder it was started from. :func:`status` combines that record with Snakemake's lock and incomplete
markers (`.snakemake/locks`, `.snakemake/incomplete`), the processes working in the folder and, where SLURM
answers, the folder's queued or running jobs. The record's test of whether a run is alive (:func:`process_alive`) is
also the one of the results folder's lock (:mod:`hanseg.jobs.results_lock`).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hanseg.core.atomic import write_text_atomic
from hanseg.nnunet.progress import training_progress

#: Where the run record lives, relative to the working directory (Snakemake's own state folder).
RECORD = Path(".snakemake/hanseg/run.json")


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): a pid is reused, this not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_run(workdir: Path | str = ".") -> dict:
    """This process as the run record and the results folder's lock (:mod:`hanseg.jobs.results_lock`) name it."""
    pid = os.getpid()
    return {
        "pid": pid,
        "process_start": process_start(pid),
        "host": socket.gethostname(),
        "argv": list(sys.argv),
        # The shell's folder, not the working directory Snakemake moved to (--directory): argv's relative paths
        # (a config file, .venv/bin/snakemake) are relative to it.
        "invoked_from": os.environ.get("PWD") or os.getcwd(),
        "workdir": str(Path(workdir).resolve()),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def process_alive(run: dict) -> bool | None:
    """Whether the process a run record or lock names (its host, pid and process start) still runs: False once it
    is gone or its pid belongs to another process; None on another host, where it cannot be checked."""
    if run.get("host") != socket.gethostname():
        return None
    try:
        pid = int(run["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if run.get("process_start") is None:  # recorded without /proc (not Linux): the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return process_start(pid) == run["process_start"]


def record_start(log: str | None = None, workdir: Path | str = ".", results_dir: Path | str | None = None) -> None:
    """Called by Snakemake's `onstart` in the main process of a real run (never in a dry run, never in a job)."""
    record = this_run(workdir) | {
        "snakemake_log": str(log[0] if isinstance(log, list | tuple) and log else log) if log else None,
        # Where `hanseg status` looks for the results folder's lock.
        "results_dir": str(Path(workdir, results_dir).resolve()) if results_dir else None,
        "state": "running",
    }
    write_text_atomic(Path(workdir) / RECORD, json.dumps(record, indent=1) + "\n")


def record_end(state: str, workdir: Path | str = ".") -> None:
    """Called by `onsuccess` ("finished") and `onerror` ("failed"): a run that never gets here was killed."""
    path = Path(workdir) / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if record.get("pid") == os.getpid():
        record |= {"state": state, "ended": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def _decode_marker(path: Path, root: Path) -> str | None:
    """The output path a Snakemake incomplete marker stands for (its name is the path, urlsafe base64, split)."""
    parts = [part.removeprefix("@") for part in path.relative_to(root).parts]
    try:
        return base64.urlsafe_b64decode("".join(parts)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def incomplete_outputs(workdir: Path | str = ".") -> dict[str, str | None]:
    """Output -> external job id (SLURM's, or None for a local job) of every job Snakemake started, not finished."""
    root = Path(workdir) / ".snakemake/incomplete"
    found: dict[str, str | None] = {}
    if not root.is_dir():
        return found
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "migration_underway"):
        output = _decode_marker(path, root)
        if output is None:
            continue
        try:
            job = json.loads(path.read_text() or "{}").get("external_jobid")
        except (OSError, ValueError):
            job = None
        found[output] = str(job) if job else None
    return found


def _workflow_processes(workdir: Path) -> list[tuple[int, str]]:
    """(pid, command) of this machine's processes working in `workdir` that belong to Snakemake or its jobs."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if Path(os.readlink(entry / "cwd")).resolve() != workdir:
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "snakemake" in command:  # the main process, its job scripts (.snakemake/scripts/...) and shell jobs
            found.append((int(entry.name), command))
    return sorted(found)


def _slurm_jobs(workdir: Path) -> list[dict] | None:
    """This user's queued or running SLURM jobs whose working directory is `workdir`; None without SLURM."""
    if shutil.which("squeue") is None:
        return None
    try:
        result = subprocess.run(
            ["squeue", "--me", "--noheader", "--format=%i|%T|%Z|%k"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    jobs = []
    for line in result.stdout.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) == 4 and Path(parts[2]).resolve() == workdir:
            jobs.append({"id": parts[0], "state": parts[1], "comment": parts[3]})
    return jobs


@dataclass
class RunStatus:
    workdir: Path
    record: dict | None
    #: True: the recorded main process runs here; False: it is gone; None: no record, or started on another host.
    main_alive: bool | None
    processes: list[tuple[int, str]] = field(default_factory=list)
    slurm_jobs: list[dict] | None = None
    locked: bool = False
    incomplete: dict[str, str | None] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return bool(self.main_alive or self.processes or self.slurm_jobs)

    def command(self, *flags: str) -> str:
        """The recorded command line with `flags` added after the program (placeholder options without a record)."""
        if not self.record:
            return " ".join(["snakemake", *flags, "<the options of the run>"])
        argv = list(self.record["argv"])
        # A console script keeps its path (.venv/bin/snakemake); `python -m snakemake` records its __main__.py.
        program = argv[0] if Path(argv[0]).name == "snakemake" else "snakemake"
        arguments = [a for a in argv[1:] if a not in flags]
        return shlex.join([program, *flags, *arguments])

    def resume(self) -> str | None:
        """The one command that resumes a dead run (None while it is alive or when there is nothing to resume)."""
        if self.alive:
            return None
        if not (self.locked or self.incomplete or (self.record and self.record.get("state") == "running")):
            return None
        steps = []
        if self.locked:
            steps.append(self.command("--unlock"))
        steps.append(self.command("--rerun-incomplete"))
        where = self.record.get("invoked_from") if self.record else None
        prefix = f"cd {shlex.quote(where)} && " if where and Path(where).resolve() != self.workdir else ""
        return prefix + " && ".join(steps)


def status(workdir: Path | str = ".") -> RunStatus:
    workdir = Path(workdir).resolve()
    try:
        record = json.loads((workdir / RECORD).read_text())
    except (OSError, ValueError):
        record = None
    main_alive = None
    if record and record.get("state") == "running":
        main_alive = process_alive(record)
    elif record:
        main_alive = False
    locks = workdir / ".snakemake/locks"
    return RunStatus(
        workdir=workdir,
        record=record,
        main_alive=main_alive,
        processes=_workflow_processes(workdir),
        slurm_jobs=_slurm_jobs(workdir),
        locked=locks.is_dir() and any(locks.glob("*.lock")),
        incomplete=incomplete_outputs(workdir),
    )


def _training_lines(run: RunStatus) -> list[str]:
    """One line per training whose final checkpoint is still being written: how far it is (nnU-Net's log)."""
    lines = []
    for output in run.incomplete:
        path = run.workdir / output
        if path.name != "checkpoint_final.pth":
            continue
        progress = training_progress(path.parent)
        where = path.parent.relative_to(run.workdir) if path.parent.is_relative_to(run.workdir) else path.parent
        if progress is None:
            lines.append(f"training {where}: started, no epoch logged yet")
        else:
            lines.append(f"training {where}: {progress.describe()}")
    return lines


def describe(run: RunStatus, limit: int = 20) -> str:
    """What `hanseg status` prints."""
    lines = [f"folder: {run.workdir}"]
    record = run.record
    if record:
        lines.append(
            f"last run: started {record['started']} on {record['host']} (pid {record['pid']}): "
            f"{shlex.join(record['argv'])}"
        )
        if record.get("snakemake_log"):
            lines.append(f"Snakemake's log: {record['snakemake_log']}")
    else:
        lines.append("last run: no record (no run of this workflow started here, or one from before the record)")

    if run.main_alive:
        state = f"ALIVE: Snakemake (pid {record['pid']}) is running"
    elif run.processes or run.slurm_jobs:
        state = "ALIVE: jobs of this folder are still running, although Snakemake's main process is gone"
    elif record and record.get("state") == "running" and run.main_alive is None:
        state = (
            f"UNKNOWN: the run was started on {record['host']}, not here; run `hanseg status` there (no job of "
            "this folder runs here)"
        )
    elif record and record.get("state") in ("finished", "failed"):
        state = f"dead: the last run {record['state']} at {record.get('ended', '?')}"
    elif record:
        state = "DEAD: killed (its process is gone and it never recorded an end)"
    else:
        state = "no run alive here"
    lines.append(f"state: {state}")
    for pid, command in run.processes[:limit]:
        lines.append(f"  process {pid}: {command[:160]}")
    if run.slurm_jobs:
        lines.append(f"  SLURM jobs of this folder: {', '.join(j['id'] + ' ' + j['state'] for j in run.slurm_jobs)}")
    lines.append(
        "lock: "
        + (
            "held (.snakemake/locks)" + (", by the live run: never --unlock now" if run.alive else ", by a dead run")
            if run.locked
            else "none"
        )
    )
    if run.incomplete:
        what = "being written by the live run" if run.alive else "left by the dead run; --rerun-incomplete redoes them"
        lines.append(f"incomplete outputs ({len(run.incomplete)}), {what}:")
        for output, job in list(run.incomplete.items())[:limit]:
            lines.append(f"  {output}" + (f" (SLURM job {job})" if job else ""))
        if len(run.incomplete) > limit:
            lines.append(f"  ... and {len(run.incomplete) - limit} more")
    else:
        lines.append("incomplete outputs: none")
    lines += _training_lines(run)
    resume = run.resume()
    if run.alive:
        if run.main_alive and record:
            stop = f"kill -TERM {record['pid']} (running jobs finish, no new one starts), or Ctrl-C in its terminal"
        else:
            stop = "scancel or kill the jobs listed above"
        lines.append(f"resume: nothing to do while it runs; to stop it: {stop}")
    elif resume:
        lines.append("resume with:")
        lines.append(f"  {resume}")
    else:
        lines.append("resume: nothing to resume (run Snakemake as usual to continue)")
    return "\n".join(lines)

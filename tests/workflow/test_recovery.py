"""A run killed with SIGKILL during registration resumes with the commands of docs/recovery.md, and ends as a clean
run does.

Also `hanseg status`: a live run is told apart from a dead one, the incomplete outputs are listed, and the command it
prints is the one docs/recovery.md documents.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from hanseg.cli import main
from hanseg.core.defaults import DATA_DIR
from hanseg.jobs.run_state import RECORD, describe, status
from tests.support import REPO
from tests.support.workflow_runs import incomplete_marker

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TARGET = "results/cases/case_01/resampled/labels.nrrd"
#: Recovery does not depend on how long elastix optimises: 20 iterations per resolution keep the runs short.
ITERATIONS = 20


def _documented_commands() -> tuple[str, str]:
    """The manual's "When a run dies" commands: the unlock and the resume, with <options> for the run's options."""
    section = (REPO / "docs/recovery.md").read_text().split("## When a run dies", 1)[1].split("\n## ", 1)[0]
    unlock = re.search(r"^(snakemake --unlock <options>)\s*(#.*)?$", section, re.M)
    resume = re.search(r"^(snakemake --rerun-incomplete <options>)\s*(#.*)?$", section, re.M)
    assert unlock and resume, "docs/recovery.md: the section 'When a run dies' lost its commands"
    return unlock.group(1), resume.group(1)


def _workdir(path: Path) -> Path:
    (path / "config").mkdir(parents=True)
    (path / "elastix").mkdir()
    text = (DATA_DIR / "elastix/rigid.txt").read_text()
    text = re.sub(r"\(MaximumNumberOfIterations \d+\)", f"(MaximumNumberOfIterations {ITERATIONS})", text)
    (path / "elastix/rigid.txt").write_text(text)
    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    # Merged into the CI config's own registration section (its QC thresholds stay).
    config.setdefault("registration", {})["parameter_files"] = ["elastix/rigid.txt"]
    (path / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _env(cwd: Path) -> dict:
    # The documented commands say `snakemake`: the one next to this Python. PWD is the shell's, as in a terminal.
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", PWD=str(cwd))


def _comparable(path: Path, workdir: Path):
    """What must equal between runs: bytes, except where a file records times or its own folder."""
    if path.suffix == ".log" or {"logs", "benchmarks"} & set(path.relative_to(workdir).parts[:2]):
        return None  # elastix.log, the rules' logs and benchmarks (results/logs, results/benchmarks): timings
    if path.name == "HaN-Seg.zip":  # member times differ; the members must not
        with zipfile.ZipFile(path) as archive:
            return sorted((info.filename, info.CRC) for info in archive.infolist())
    if path.name == "registration.json":
        report = json.loads(path.read_text())
        report.pop("seconds")
        return report
    if path.suffix in (".json", ".tsv", ".txt"):
        return path.read_text().replace(str(workdir), "<workdir>")
    return path.read_bytes()


@pytest.mark.slow
def test_sigkill_during_registration_resumes_with_the_documented_commands(tmp_path):
    unlock, resume = _documented_commands()
    killed = _workdir(tmp_path / "killed")
    run = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(killed), "--cores", "2", TARGET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes Snakemake and its job together
        cwd=tmp_path,
        env=_env(tmp_path),
    )
    log = killed / "results/logs/register_mr/case_01.log"
    deadline = time.monotonic() + 600
    try:
        while not (log.is_file() and "initial translation" in log.read_text()):  # elastix is about to start
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before registering"
            time.sleep(0.05)
        live = status(killed)
        assert live.alive and live.main_alive and live.locked and live.resume() is None
        assert "never --unlock now" in describe(live)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()

    dead = status(killed)
    assert not dead.alive and dead.locked
    assert f"{killed}/results/cases/case_01/registration/mr_in_ct.nrrd" in {
        str(killed / output) for output in dead.incomplete
    }
    text = describe(dead)
    assert "DEAD: killed" in text and "results/cases/case_01/registration/mr_in_ct.nrrd" in text
    # The one command hanseg status prints is the documented two, with the options of the run that died.
    options = f"--directory {killed} --cores 2 {TARGET}"
    commands = [unlock.replace("<options>", f"--snakefile {REPO / 'Snakefile'} {options}")]
    commands.append(resume.replace("<options>", f"--snakefile {REPO / 'Snakefile'} {options}"))
    # Run from where the dead run was started (its relative paths are relative to that folder).
    assert dead.resume() == f"cd {tmp_path} && " + " && ".join(commands)

    # Without them Snakemake refuses (the reason docs/recovery.md, "When a run dies", exists).
    plain = subprocess.run(
        [*SNAKEMAKE, "--directory", str(killed), "--cores", "2", TARGET],
        capture_output=True,
        text=True,
        env=_env(killed),
    )
    # Which refusal comes first depends on whether the killed job had written one of its outputs: registration now
    # writes them only once complete, so the lock usually speaks first.
    refusal = plain.stdout + plain.stderr
    assert plain.returncode != 0 and ("IncompleteFilesException" in refusal or "--unlock" in refusal), refusal[-2000:]

    resumed = subprocess.run(["bash", "-c", dead.resume()], capture_output=True, text=True, env=_env(killed))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = status(killed)
    assert not after.alive and not after.locked and not after.incomplete and after.resume() is None
    assert json.loads((killed / RECORD).read_text())["state"] == "finished"

    clean = _workdir(tmp_path / "clean")
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(clean), "--cores", "2", TARGET], capture_output=True, text=True, env=_env(clean)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    files = sorted(p.relative_to(clean) for p in (clean / "results").rglob("*") if p.is_file())
    assert sorted(p.relative_to(killed) for p in (killed / "results").rglob("*") if p.is_file()) == files
    assert Path("results/cases/case_01/registration/TransformParameters.0.txt") in files
    for name in files:
        if name.name == ".snakemake_timestamp":
            continue
        assert _comparable(killed / name, killed) == _comparable(clean / name, clean), name


def test_status_tells_a_dead_run_from_a_finished_one(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 0
    assert "no run alive here" in capsys.readouterr().out
    # A run that recorded its start, holds the lock and has one job underway, but whose process is gone.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = {
        "pid": gone.pid,
        "process_start": "1",
        "host": os.uname().nodename,
        "argv": ["/opt/venv/bin/snakemake", "--configfile", "config/my run.yaml", "--cores", "8"],
        "invoked_from": str(tmp_path / "elsewhere"),
        "started": "2026-01-01 10:00:00",
        "state": "running",
    }
    (tmp_path / RECORD).parent.mkdir(parents=True)
    (tmp_path / RECORD).write_text(json.dumps(record))
    (tmp_path / ".snakemake/locks").mkdir(parents=True)
    (tmp_path / ".snakemake/locks/0.output.lock").write_text("results/x\n")
    long_output = "results/cases/case_07/" + "deep/" * 60 + "mr_in_ct.nrrd"  # a marker name longer than NAME_MAX
    encoded = base64.urlsafe_b64encode(long_output.encode()).decode()
    parts = [encoded[i : i + 254] for i in range(0, len(encoded), 254)]
    marker = tmp_path / ".snakemake/incomplete" / Path(*["@" + p for p in parts[:-1]], parts[-1])
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    incomplete_marker(tmp_path, "results/nnunet/fold_all/checkpoint_final.pth", "4242")
    run = status(tmp_path)
    assert not run.alive and run.locked
    assert run.incomplete == {long_output: None, "results/nnunet/fold_all/checkpoint_final.pth": "4242"}
    assert run.resume() == (
        f"cd {tmp_path / 'elsewhere'} && /opt/venv/bin/snakemake --unlock --configfile 'config/my run.yaml' "
        "--cores 8 && /opt/venv/bin/snakemake --rerun-incomplete --configfile 'config/my run.yaml' --cores 8"
    )
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DEAD: killed" in out and "(SLURM job 4242)" in out and run.resume() in out
    # The same folder after a run that ended by itself: nothing to resume.
    shutil.rmtree(tmp_path / ".snakemake/locks")
    shutil.rmtree(tmp_path / ".snakemake/incomplete")
    (tmp_path / RECORD).write_text(json.dumps(record | {"state": "finished", "ended": "2026-01-01 11:00:00"}))
    assert status(tmp_path).resume() is None
    assert "the last run finished" in describe(status(tmp_path))

"""Two runs from two folders, one `results_dir`: the results folder's lock (hanseg.jobs.results_lock, docs/recovery.md
"Two runs, one results folder") lets one write it, refuses the other with one line, and replaces a dead run's lock.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hanseg.cli import main
from hanseg.jobs import results_lock
from hanseg.jobs.results_lock import LOCK_NAME, LockHeld, describe, lock_path, release, take
from hanseg.jobs.run_state import RECORD, process_alive, process_start
from tests.support.workflow_runs import snakemake_in

HOST = socket.gethostname()


def _write_lock(results: Path, pid: int, workdir: Path, host: str = HOST, start: str | None = None) -> dict:
    """A lock as another run would have written it."""
    holder = {
        "host": host,
        "pid": pid,
        "process_start": start if start is not None else process_start(pid) or "1",
        "workdir": str(workdir),
        "invoked_from": str(workdir),
        "argv": ["snakemake", "--cores", "2"],
        "started": "2026-01-01 10:00:00",
    }
    results.mkdir(parents=True, exist_ok=True)
    lock_path(results).write_text(json.dumps(holder))
    return holder


@pytest.fixture
def sleeper():
    """A live process of this host that is not this one: the holder of a live run's lock."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_process_alive_is_the_run_records_test(sleeper):
    me = {"host": HOST, "pid": os.getpid(), "process_start": process_start(os.getpid())}
    assert process_alive(me) is True
    assert process_alive(me | {"process_start": "1"}) is False  # the pid now belongs to another process
    assert process_alive(me | {"pid": _dead_pid()}) is False
    assert process_alive(me | {"host": "elsewhere"}) is None
    assert process_alive({"host": HOST, "pid": sleeper.pid, "process_start": None}) is True  # no /proc: the pid
    assert process_alive({"host": HOST, "pid": _dead_pid(), "process_start": None}) is False


def test_take_writes_who_holds_it_and_release_removes_only_its_own(tmp_path):
    results = tmp_path / "results"
    assert take(results, tmp_path) is None
    holder = json.loads(lock_path(results).read_text())
    assert holder["host"] == HOST and holder["pid"] == os.getpid()
    assert holder["process_start"] == process_start(os.getpid())
    assert holder["workdir"] == str(tmp_path.resolve()) and holder["argv"] == sys.argv
    assert {"invoked_from", "started"} <= set(holder)
    assert take(results, tmp_path) is None  # already this run's
    assert [p.name for p in results.iterdir()] == [LOCK_NAME]  # no temporary left
    release(results, tmp_path)
    assert not lock_path(results).exists()

    other = _write_lock(results, os.getpid(), tmp_path / "other", start="1")  # this pid, another process's start
    release(results, tmp_path)
    assert json.loads(lock_path(results).read_text()) == other


@pytest.mark.parametrize("same_folder", [False, True], ids=["another folder", "same folder, unlocked by hand"])
def test_a_live_run_holding_the_results_folder_refuses_with_one_line(tmp_path, sleeper, same_folder):
    results = tmp_path / "results"
    holder_folder = tmp_path / ("mine" if same_folder else "theirs")
    holder = _write_lock(results, sleeper.pid, holder_folder)
    with pytest.raises(LockHeld) as refused:
        take(results, tmp_path / "mine")
    message = str(refused.value)
    assert "\n" not in message
    for part in (str(results), HOST, f"pid {sleeper.pid}", str(holder_folder), "2026-01-01 10:00:00"):
        assert part in message
    assert "still running" in message and "wait for it" in message and "another results_dir" in message
    assert json.loads(lock_path(results).read_text()) == holder


def test_a_dead_runs_lock_is_stale_and_replaced_with_one_line(tmp_path, sleeper):
    results = tmp_path / "results"
    for pid, start in ((_dead_pid(), None), (sleeper.pid, "1")):  # gone; a live pid whose start differs (reused)
        _write_lock(results, pid, tmp_path / "theirs", start=start)
        line = take(results, tmp_path / "mine")
        assert line.startswith("hanseg: replaced the stale lock") and "\n" not in line
        assert f"pid {pid}" in line and HOST in line and str(tmp_path / "theirs") in line
        assert json.loads(lock_path(results).read_text())["pid"] == os.getpid()
        release(results, tmp_path / "mine")


def test_a_run_on_another_host_is_refused_with_how_to_remove_its_lock(tmp_path):
    results = tmp_path / "results"
    _write_lock(results, 4242, tmp_path / "theirs", host="node17", start="99")
    with pytest.raises(LockHeld) as refused:
        take(results, tmp_path / "mine")
    message = str(refused.value)
    assert "\n" not in message and "node17" in message and "pid 4242" in message and "cannot be checked" in message
    assert message.endswith(f"rm {lock_path(results)}")
    # Started from this same folder on another host: this run holds Snakemake's lock of the folder, so it ended.
    _write_lock(results, 4242, tmp_path / "mine", host="node17", start="99")
    line = take(results, tmp_path / "mine")
    assert "an earlier run of this folder" in line and "node17" in line
    assert json.loads(lock_path(results).read_text())["pid"] == os.getpid()


def test_an_unreadable_lock_is_not_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(results_lock, "ATTEMPTS", 2)
    results = tmp_path / "results"
    results.mkdir()
    lock_path(results).write_text("")
    with pytest.raises(LockHeld, match=f"rm {lock_path(results)}$"):
        take(results, tmp_path)
    assert lock_path(results).read_text() == ""


def test_a_lock_replaced_meanwhile_is_put_back(tmp_path, sleeper):
    """Two runs judge the same dead lock: the first replaces it; the second must not remove the first's new one."""
    results = tmp_path / "results"
    fresh = _write_lock(results, sleeper.pid, tmp_path / "first")
    results_lock._remove_replaced(lock_path(results), b'{"the": "dead lock both saw"}')
    assert json.loads(lock_path(results).read_text()) == fresh
    assert [p.name for p in results.iterdir()] == [LOCK_NAME]


def _race(results: Path, workdir: Path, start, finish, answers) -> None:
    start.wait()
    try:
        take(results, workdir)
        answers.put("took")
    except LockHeld:
        answers.put("refused")
    finish.wait()  # alive until both have judged: the winner is a live holder


@pytest.mark.parametrize("stale", [False, True], ids=["no lock", "a dead run's lock"])
def test_of_two_runs_starting_together_one_wins(tmp_path, stale):
    context = multiprocessing.get_context("fork")
    for lap in range(10):
        results = tmp_path / str(lap) / "results"
        if stale:
            _write_lock(results, _dead_pid(), tmp_path / "dead")
        start, finish, answers = context.Barrier(2), context.Barrier(2), context.Queue()
        runs = [
            context.Process(target=_race, args=(results, tmp_path / name, start, finish, answers))
            for name in ("one", "two")
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join(30)
        assert sorted(answers.get(timeout=5) for _ in runs) == ["refused", "took"], lap
        assert [p.name for p in results.iterdir()] == [LOCK_NAME]


def test_hanseg_status_names_the_lock_and_whether_its_holder_lives(tmp_path, sleeper, capsys):
    results = tmp_path / "results"
    assert describe(tmp_path, None).startswith("results folder lock: none here")
    record = {"results_dir": str(results)}
    assert describe(tmp_path, record) == f"results folder lock: none ({results})"
    _write_lock(results, sleeper.pid, tmp_path / "theirs")
    assert "ALIVE" in describe(tmp_path, record) and str(tmp_path / "theirs") in describe(tmp_path, record)
    assert "ALIVE" in describe(results, None)  # `hanseg status RESULTS_DIR`
    _write_lock(results, _dead_pid(), tmp_path / "theirs")
    assert "DEAD" in describe(tmp_path, record)
    _write_lock(results, 4242, tmp_path / "theirs", host="node17", start="99")
    assert "UNKNOWN" in describe(tmp_path, record) and "node17" in describe(tmp_path, record)
    # The run record of the folder says where its results are.
    (tmp_path / RECORD).parent.mkdir(parents=True)
    finished = {"state": "finished", "started": "2026-01-01", "ended": "2026-01-01", "host": HOST, "pid": 1}
    (tmp_path / RECORD).write_text(json.dumps(record | finished | {"argv": ["snakemake"]}))
    assert main(["status", str(tmp_path)]) == 0
    assert f"results folder lock ({lock_path(results)}): held by" in capsys.readouterr().out


def test_a_second_folder_with_the_same_results_dir_is_refused_until_the_first_run_dies(tmp_path, sleeper):
    """Real Snakemake runs from folder `second` beside a live run of folder `first` (a lock held by a live process):
    the dry run is neither refused nor takes the lock; the real run stops before its job with one line; once the
    holder is dead, the run replaces the stale lock, says so in one line, runs, and leaves no lock."""
    results = tmp_path / "results"
    config = {
        "results_dir": str(results),
        "dataset": {"source": "phantom", "phantom": {"cases": 1, "shape": [16, 16, 16], "mr_shape": [8, 8, 8]}},
    }
    for name in ("first", "second"):
        (tmp_path / name / "config").mkdir(parents=True)
        (tmp_path / name / "config/config.yaml").write_text(yaml.safe_dump(config))
    second = tmp_path / "second"
    target = str(results / "phantom/HaN-Seg.zip")
    holder = _write_lock(results, sleeper.pid, tmp_path / "first")

    dry = snakemake_in(second, "-n", "--cores", "1", target)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert json.loads(lock_path(results).read_text()) == holder

    refused = snakemake_in(second, "--cores", "1", target)
    assert refused.returncode == 1
    lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.startswith("hanseg:")]
    assert len(lines) == 1 and f"pid {sleeper.pid}" in lines[0] and str(tmp_path / "first") in lines[0], lines
    assert "still running" in lines[0] and HOST in lines[0] and "2026-01-01 10:00:00" in lines[0]
    assert not (results / "phantom").exists() and not (second / RECORD).exists()
    assert json.loads(lock_path(results).read_text()) == holder

    sleeper.kill()
    sleeper.wait()
    ran = snakemake_in(second, "--cores", "1", target)
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = [line for line in (ran.stdout + ran.stderr).splitlines() if line.startswith("hanseg:")]
    assert len(lines) == 1 and "replaced the stale lock" in lines[0] and f"pid {sleeper.pid}" in lines[0], lines
    assert (results / "phantom/HaN-Seg.zip").is_file() and not lock_path(results).exists()
    assert json.loads((second / RECORD).read_text())["results_dir"] == str(results)

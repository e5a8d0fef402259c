"""A write the disk refuses is one DiskError naming the file (not its temporary) and the cause, with nothing left
behind; on a real full or read-only file system (tmpfs) also when the writer is a C++ library (ITK) that raises its
own error; an ordinary bug keeps its own exception."""

from __future__ import annotations

import errno
import subprocess
import types

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core.atomic import atomic_path, staging_folder, write_text_atomic
from hanseg.core.errors import DiskError
from hanseg.core.images import write_image
from hanseg.jobs.rule_runner import run
from tests.support.small_disks import fill, mount_problem, small_disk


@pytest.fixture
def full_disk(tmp_path):
    problem = mount_problem(tmp_path / "probe")
    if problem:
        pytest.skip(problem)
    with small_disk(tmp_path / "disk", 1) as disk:
        fill(disk)
        yield disk


def _image() -> sitk.Image:
    return sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(40, 64, 64)).astype(np.float32))


def test_no_space_from_any_writer_names_the_target_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out" / "ct.nrrd"

    with pytest.raises(DiskError) as error, atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(temporary))
    message = str(error.value)
    assert (
        message.startswith(f"{target}: cannot write it: No space left on device; free space") and ".tmp" not in message
    )
    assert len(message.splitlines()) == 1 and list(target.parent.iterdir()) == []


def test_an_ordinary_error_is_not_a_disk_error(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "x.txt") as temporary:
        temporary.write_text("x")
        raise ValueError("a bug")
    assert list(tmp_path.iterdir()) == []


def test_itk_on_a_full_file_system_is_one_disk_error(full_disk):
    target = full_disk / "case_01" / "ct.nrrd"
    with pytest.raises(DiskError) as error:
        write_image(_image(), target)  # ITK raises RuntimeError with its own text
    assert str(error.value).startswith(f"{target}: cannot write it: No space left on device")
    assert [p.name for p in full_disk.rglob("*") if p.is_file()] == [".filler"]


def test_a_small_image_that_itk_leaves_empty_on_a_full_disk_is_one_disk_error(full_disk):
    """ITK's NRRD writer says nothing when a small image does not fit: it leaves an empty file."""
    labels = sitk.GetImageFromArray(np.zeros((32, 64, 64), np.uint8))
    target = full_disk / "case_03.nrrd"
    with pytest.raises(DiskError) as error:
        write_image(labels, target)
    assert str(error.value).startswith(f"{target}: cannot write it: No space left on device")
    assert [p.name for p in full_disk.iterdir()] == [".filler"]


def test_a_read_only_file_system_is_one_disk_error(tmp_path):
    problem = mount_problem(tmp_path / "probe")
    if problem:
        pytest.skip(problem)
    with small_disk(tmp_path / "disk", 1) as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(DiskError, match="Read-only file system"):
            write_text_atomic(disk / "tables" / "table2.csv", "organ,dc\n")
        with pytest.raises(DiskError, match=r"HaN-Seg: cannot write it: Read-only file system"):
            with staging_folder(disk, "HaN-Seg"):
                pass


def test_a_rule_whose_library_fails_on_a_full_disk_ends_in_one_line(full_disk, tmp_path, capsys):
    """nnU-Net, PyTorch and ITK write without our atomic writer at times: the rule's runner judges the disk."""
    output = full_disk / "preprocessed" / "plans.json"
    job = types.SimpleNamespace(
        rule="nnunet_plan_preprocess", wildcards={}, log=[str(tmp_path / "job.log")], output=[str(output)]
    )

    def main(snakemake):
        raise RuntimeError("blosc2: could not write chunk")  # what a library says

    with pytest.raises(SystemExit) as exit_code:
        run(job, main)
    assert exit_code.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"{output}: cannot write it: No space left on device" in errors[0]


def test_a_bug_on_a_roomy_disk_keeps_its_traceback(tmp_path):
    job = types.SimpleNamespace(rule="x", wildcards={}, log=[], output=[str(tmp_path / "out.txt")])

    def main(snakemake):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run(job, main)

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from hanseg.core.atomic import atomic_path, replace_folder_atomic, staging_folder, write_text_atomic


def test_writes_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "deep" / "table.tsv"
    assert write_text_atomic(path, "a\tb\n") == path
    write_text_atomic(path, "c\td\r\n")  # written as given: no newline translation
    assert path.read_bytes() == b"c\td\r\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.tsv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    write_text_atomic(path, '{"done": true}\n')
    with pytest.raises(TypeError):
        write_text_atomic(path, b"not text")  # fails mid-write, after the temporary file exists
    assert path.read_text() == '{"done": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


# ---- the one mechanism: atomic_path, and folders -----------------------------------------------------------------


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("existed", [True, False])
def test_a_failure_inside_changes_nothing_and_leaves_no_temporary(tmp_path, existed):
    target = tmp_path / "case_01_OAR_Lips.seg.nrrd"
    if existed:
        target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer died"):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half of the new")
            raise RuntimeError("writer died")
    assert _names(tmp_path) == (["case_01_OAR_Lips.seg.nrrd"] if existed else [])
    if existed:
        assert target.read_bytes() == b"old"


def test_the_temporary_is_hidden_beside_the_target_with_its_suffixes(tmp_path):
    target = tmp_path / "new" / "case_01_OAR_Lips.seg.nrrd"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and target.parent.is_dir()  # parents created
        assert temporary.name.startswith(".") and temporary.name.endswith(".seg.nrrd")
        assert not temporary.exists()  # the writer creates it
        temporary.write_bytes(b"\x00\x01binary")
    assert target.read_bytes() == b"\x00\x01binary"
    assert _names(target.parent) == [target.name]


def test_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = write_text_atomic(tmp_path / "table.tsv", "a\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_block_that_writes_nothing(tmp_path):
    target = tmp_path / "checkpoint_latest.pth"
    target.write_bytes(b"epoch 50")
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    with atomic_path(target, missing_ok=True):  # a writer that may decline (nnU-Net without checkpointing)
        pass
    assert target.read_bytes() == b"epoch 50" and _names(tmp_path) == ["checkpoint_latest.pth"]


def test_a_temporary_left_by_a_killed_writer_goes_with_the_next_write(tmp_path):
    target = tmp_path / "figure.png"
    killed = "import os, sys\nfrom hanseg.core.atomic import atomic_path\nwith atomic_path(sys.argv[1]) as t:\n"
    killed += "    t.write_bytes(b'half')\n    os._exit(9)\n"
    assert subprocess.run([sys.executable, "-c", killed, str(target)]).returncode == 9
    (stale,) = tmp_path.iterdir()
    assert stale.name.startswith(".figure.") and stale.name.endswith(".png")
    other = [tmp_path / ".figure.png", tmp_path / ".figure.tmp.png", tmp_path / ".other.0123456789abcdef.tmp.png"]
    for path in other:  # not temporaries of this target: kept
        path.write_bytes(b"keep")
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"\x89PNG")
    assert _names(tmp_path) == sorted(["figure.png", *(p.name for p in other)])


def test_images_and_figures_pick_their_format_from_the_suffix(tmp_path):
    image = sitk.GetImageFromArray(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    for name in ("ct.nrrd", "case_01_OAR_Lips.seg.nrrd", "ct.nii.gz"):
        with atomic_path(tmp_path / name) as temporary:
            sitk.WriteImage(image, str(temporary), useCompression=True)
        back = sitk.ReadImage(str(tmp_path / name))
        assert np.array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    assert (tmp_path / "ct.nrrd").read_bytes().startswith(b"NRRD")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with atomic_path(tmp_path / "figure.png") as temporary:
        fig.savefig(temporary)  # no format given: matplotlib takes it from the name
    plt.close(fig)
    assert (tmp_path / "figure.png").read_bytes().startswith(b"\x89PNG")
    assert _names(tmp_path) == sorted(["ct.nrrd", "case_01_OAR_Lips.seg.nrrd", "ct.nii.gz", "figure.png"])


def _folder(path, text):
    (path / "set_1").mkdir(parents=True)
    (path / "set_1" / "data.txt").write_text(text)
    return path


def test_a_folder_replaces_an_older_one_whole(tmp_path):
    target = _folder(tmp_path / "HaN-Seg", "old")
    (target / "only_in_old.txt").write_text("gone after")
    with staging_folder(tmp_path, "HaN-Seg") as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".HaN-Seg-")
        assert replace_folder_atomic(_folder(staging / "root", "new"), target) == target
    assert _names(target) == ["set_1"] and (target / "set_1" / "data.txt").read_text() == "new"
    assert _names(tmp_path) == ["HaN-Seg"]  # no staging, no old folder left


def test_a_folder_that_cannot_be_moved_keeps_the_old_one(tmp_path):
    target = _folder(tmp_path / "truth", "old")
    with pytest.raises(FileNotFoundError):
        replace_folder_atomic(tmp_path / "not-there", target)
    assert (target / "set_1" / "data.txt").read_text() == "old" and _names(tmp_path) == ["truth"]


def test_staging_is_removed_on_failure(tmp_path):
    with pytest.raises(ValueError):
        with staging_folder(tmp_path / "out", "phantom") as staging:
            _folder(staging / "HaN-Seg", "half")
            raise ValueError("generator failed")
    assert _names(tmp_path / "out") == []


def test_a_file_replaces_a_file_or_a_folder(tmp_path):
    source = tmp_path / "new.zip"
    source.write_bytes(b"PK new")
    target = _folder(tmp_path / "HaN-Seg.zip", "a folder where the zip goes")
    replace_folder_atomic(source, target)
    assert target.read_bytes() == b"PK new"
    source.write_bytes(b"PK newer")
    replace_folder_atomic(source, target)
    assert target.read_bytes() == b"PK newer" and _names(tmp_path) == ["HaN-Seg.zip"]


def test_an_old_folder_left_by_a_killed_swap_goes_with_the_next_one(tmp_path):
    target = _folder(tmp_path / "HaN-Seg", "old")
    left = Path(tempfile.mkdtemp(prefix=".HaN-Seg-old-", dir=tmp_path))  # as a swap killed while deleting leaves it
    _folder(left / "HaN-Seg", "older")
    kept = _folder(tmp_path / ".HaN-Seg-old-not-ours", "someone else's")
    replace_folder_atomic(_folder(tmp_path / "new", "new"), target)
    assert _names(tmp_path) == sorted(["HaN-Seg", kept.name])
    shutil.rmtree(target)  # killed between the two renames: no HaN-Seg, the old one aside
    _folder(Path(tempfile.mkdtemp(prefix=".HaN-Seg-old-", dir=tmp_path)) / "HaN-Seg", "old")
    replace_folder_atomic(_folder(tmp_path / "new", "newer"), target)
    assert _names(tmp_path) == sorted(["HaN-Seg", kept.name]) and (target / "set_1/data.txt").read_text() == "newer"

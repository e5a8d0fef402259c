from __future__ import annotations

import json
import stat
import zipfile

import pytest

from hanseg.dataset.archive import ArchiveError, check_layout, extract_zip, read_manifest, write_manifest
from hanseg.dataset.phantom import PhantomOptions, generate


def _zip_with(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "bad_name",
    ["../evil.txt", "HaN-Seg/../../evil.txt", "/abs/evil.txt", "C:/evil.txt", "HaN-Seg\\..\\..\\evil.txt"],
)
def test_unsafe_entries_are_refused_and_nothing_is_written(tmp_path, bad_name):
    archive = _zip_with(tmp_path / "bad.zip", [("HaN-Seg/set_1/ok.txt", "ok"), (bad_name, "pwned")])
    target = tmp_path / "out" / "HaN-Seg"
    with pytest.raises(ArchiveError, match="refusing"):
        extract_zip(archive, target)
    assert not target.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no staging folder left behind


def test_symlink_entries_are_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("HaN-Seg/set_1/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_zip(path, tmp_path / "out")


def test_not_a_zip(tmp_path):
    path = tmp_path / "HaN-Seg.zip"
    path.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        extract_zip(path, tmp_path / "out")


def test_archive_without_han_seg_layout(tmp_path):
    archive = _zip_with(tmp_path / "other.zip", [("something/else.txt", "x")])
    with pytest.raises(ArchiveError, match="set_1"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extracts_the_phantom_zip_and_replaces_an_old_extraction(tmp_path):
    archive = generate(tmp_path / "src", PhantomOptions(cases=2, seed=2, ct_shape=(32, 32, 16)), as_zip=True)
    target = tmp_path / "data" / "HaN-Seg"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    root = extract_zip(archive, target)
    assert root == target and not (target / "stale.txt").exists()
    assert check_layout(root) == ["case_01", "case_02"]
    manifest = tmp_path / "data" / "manifest.json"
    write_manifest(manifest, root, "phantom", ["case_01", "case_02"])
    content = read_manifest(manifest)
    assert content["cases"] == ["case_01", "case_02"]
    assert "set_1/case_01/case_01_IMG_CT.nrrd" in content["files"]
    json.dumps(content)


def test_layout_check_names_what_is_missing(tmp_path):
    (tmp_path / "set_1" / "case_01").mkdir(parents=True)
    with pytest.raises(ArchiveError, match="OAR_data.csv"):
        check_layout(tmp_path)
    with pytest.raises(ArchiveError, match="set_1"):
        check_layout(tmp_path / "set_1")

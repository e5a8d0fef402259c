"""Safe extraction of HaN-Seg.zip and the check that what came out has the HaN-Seg layout.

A zip is untrusted input: entries with absolute paths, `..` components or symbolic links could write outside the
target folder. They are refused before anything is written, and extraction happens in a temporary sibling folder
that is renamed into place only when complete, so an interrupted run never leaves a half-extracted dataset that a
rerun would take for finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from hanseg.core import dataset_layout
from hanseg.core.atomic import replace_folder_atomic, staging_folder, write_text_atomic
from hanseg.core.errors import InputError

log = logging.getLogger(__name__)

#: What to do about an archive whose bytes are damaged.
DAMAGED_FIX = "the archive is damaged: delete it and download it again (the workflow checks its SHA-256)"


class ArchiveError(InputError, RuntimeError):
    """The archive or the dataset folder is unsafe or not in the HaN-Seg layout."""


def _is_ignored(name: str) -> bool:
    # macOS zip tools add resource-fork folders; they carry no data.
    return name.startswith("__MACOSX/") or PurePosixPath(name).name == ".DS_Store"


def check_members(archive: zipfile.ZipFile, zip_path: Path | str) -> list[zipfile.ZipInfo]:
    """The members to extract; raises ArchiveError naming the first unsafe entry."""
    members = []
    for info in archive.infolist():
        name = info.filename
        if _is_ignored(name):
            continue
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or name.startswith(("/", "\\")) or (path.parts and ":" in path.parts[0]):
            raise ArchiveError(f"{zip_path}: refusing entry with an absolute path: {name!r}")
        if ".." in path.parts:
            raise ArchiveError(f"{zip_path}: refusing entry that climbs out of the target folder: {name!r}")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(f"{zip_path}: refusing symbolic link entry: {name!r}")
        members.append(info)
    return members


def extract_zip(zip_path: Path | str, target: Path | str) -> Path:
    """Extract `zip_path` and put its HaN-Seg data root (the folder holding `set_1/`) at `target`, atomically.

    Returns `target`. An older `target` is replaced only once the new extraction is complete.
    """
    zip_path, target = Path(zip_path), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveError(f"{zip_path}: not a readable zip archive ({error})") from error
    with staging_folder(target.parent, target.name) as staging:
        with archive:
            members = check_members(archive, zip_path)
            needed = sum(info.file_size for info in members)
            free = shutil.disk_usage(target.parent).free
            if needed > free:
                raise ArchiveError(
                    f"{zip_path}: extraction needs {needed / 1e9:.2f} GB but {target.parent} has "
                    f"{free / 1e9:.2f} GB free"
                )
            for info in members:
                destination = (staging / info.filename).resolve()
                if not destination.is_relative_to(staging.resolve()):  # belt and braces after check_members
                    raise ArchiveError(f"{zip_path}: entry {info.filename!r} resolves outside the target")
                try:
                    archive.extract(info, staging)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
                    # A bad CRC, a truncated member or an unknown compression: one line, not zipfile's traceback.
                    raise ArchiveError(f"{zip_path}: entry {info.filename!r}: {error}; {DAMAGED_FIX}") from None
        root = dataset_layout.find_data_root(staging)
        if root is None:
            raise ArchiveError(
                f"{zip_path}: no '{dataset_layout.TRAIN_SET}/' folder in the archive: is this HaN-Seg.zip?"
            )
        replace_folder_atomic(root, target)
    log.info("extracted %d entries (%.1f MB) from %s into %s", len(members), needed / 1e6, zip_path, target)
    return target


def check_layout(data_root: Path | str, set_name: str = dataset_layout.TRAIN_SET, *, strict: bool = False) -> list[str]:
    """The cases of a HaN-Seg set folder; raises ArchiveError naming what is missing.

    A folder that looks like a case but is named off-pattern (`case_1`) is a warning naming it, an error with
    `strict`.
    """
    data_root = Path(data_root)
    folder = dataset_layout.set_dir(data_root, set_name)
    if not folder.is_dir():
        raise ArchiveError(f"{data_root}: no '{set_name}/' folder: not a HaN-Seg dataset root")
    missing = [name for name in (dataset_layout.OAR_CSV, dataset_layout.PATIENT_CSV) if not (folder / name).is_file()]
    if missing:
        raise ArchiveError(f"{folder}: missing {', '.join(missing)}")
    cases, problems = dataset_layout.scan_case_folders(data_root, set_name)
    if strict and problems:
        raise ArchiveError("\n".join(f"{data_root}: {p}" for p in problems))
    for problem in problems:
        log.warning("%s: %s", data_root, problem)
    if not cases:
        raise ArchiveError(f"{folder}: no case_NN folders")
    return cases


def write_manifest(path: Path | str, data_root: Path | str, source: str, cases: list[str]) -> None:
    """The dataset manifest that downstream rules read to find the data (extracted or the user's own folder)."""
    path = Path(path)
    data_root = Path(data_root).resolve()
    files = sorted(str(p.relative_to(data_root)) for p in dataset_layout.set_dir(data_root).rglob("*") if p.is_file())
    manifest = {"data_root": str(data_root), "source": source, "cases": cases, "files": files}
    write_text_atomic(path, json.dumps(manifest, indent=2) + "\n")


def read_manifest(path: Path | str) -> dict:
    return json.loads(Path(path).read_text())

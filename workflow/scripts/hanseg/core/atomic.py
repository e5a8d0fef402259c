"""Atomic writes: every file and folder a rule writes appears under its real name only once complete.

One mechanism, "write under a temporary name next to the target, then rename over it" (a rename within one folder is
atomic: a reader sees the old file or the new one, never part of one), used by every writer of the package:

- :func:`atomic_path` yields the temporary path and renames it over the target when the block succeeds, or removes it
  when the block raises. Any writer fits: text (:func:`write_text_atomic`), images (:func:`hanseg.core.images.
  write_image`), figures (:func:`hanseg.reporting.figures.style.save`), nnU-Net checkpoints
  (:class:`hanseg.nnunet.trainer.HanSegTrainer`).
- :func:`staging_folder` and :func:`replace_folder_atomic`: a whole folder (an extracted dataset, a phantom) is built
  in a hidden sibling folder and swapped into place.

A write the disk refuses (no space, read-only, quota) becomes one :class:`~hanseg.core.errors.DiskError` naming the
target, not the temporary, and the cause; the temporary is gone (:func:`writing`).

A killed process (SIGKILL, a time limit) cannot clean up: the next write to the same target removes the temporary
file or the set-aside old folder it left (a killed run's staging folder stays, hidden, as it always did).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hanseg.core.errors import DiskError, disk_fault


def _split_suffixes(path: Path) -> tuple[str, str]:
    """The name without its suffixes, and the suffixes ("case_01_OAR_Lips", ".seg.nrrd")."""
    suffixes = "".join(path.suffixes)
    return path.name[: len(path.name) - len(suffixes)], suffixes


def _temporary_pattern(target: Path) -> re.Pattern:
    """The names :func:`_temporary_path` gives to temporaries of `target`, and no other name."""
    base, suffixes = _split_suffixes(target)
    return re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{16}}\.tmp{re.escape(suffixes)}")


def _temporary_path(target: Path) -> Path:
    """A free hidden name beside `target` that ends in the target's suffixes (writers that pick the format from the
    extension, SimpleITK's `.nrrd`/`.seg.nrrd` or matplotlib's `.png`, write the same format): not created, so the
    writer creates it with ordinary permissions."""
    base, suffixes = _split_suffixes(target)
    while True:
        candidate = target.with_name(f".{base}.{secrets.token_hex(8)}.tmp{suffixes}")
        if not os.path.lexists(candidate):
            return candidate


def _remove_stale_temporaries(target: Path) -> None:
    """Temporaries of `target` that a killed writer left behind."""
    pattern = _temporary_pattern(target)
    with os.scandir(target.parent) as entries:
        stale = [entry.path for entry in entries if pattern.fullmatch(entry.name) and entry.is_file()]
    for path in stale:
        Path(path).unlink(missing_ok=True)


@contextmanager
def writing(target: Path | str, cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Failures of the block that the disk caused become one :class:`DiskError` naming `target` (see
    :func:`hanseg.core.errors.disk_fault`; a DiskError of a temporary or staged file inside is renamed so);
    anything else passes unchanged. `cleanup` (removing what the failed write left) runs after the disk is judged,
    while what was written still fills it."""
    try:
        yield
    except BaseException as error:
        cause = disk_fault(Path(target).parent, error)
        if cleanup is not None:
            cleanup()
        if cause is None:
            raise
        raise DiskError(target, cause) from error


@contextmanager
def atomic_path(target: Path | str, *, missing_ok: bool = False) -> Iterator[Path]:
    """A temporary path beside `target` to write to; renamed over `target` when the block succeeds.

    The parent folder is created. If the block raises, the temporary is removed and `target` is left as it was (a
    failure the disk caused is a :class:`DiskError` naming `target`). A block that writes nothing is an error
    (FileNotFoundError), unless `missing_ok`: then `target` is left as it was (a writer that may decline to write,
    like nnU-Net's checkpointing when it is disabled).
    """
    target = Path(target)
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(target)
        temporary = _temporary_path(target)
    with writing(target, cleanup=lambda: temporary.unlink(missing_ok=True)):
        yield temporary
        if missing_ok and not os.path.lexists(temporary):
            return
        os.replace(temporary, target)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write `text` (UTF-8, newlines as given) atomically: a killed job never leaves a truncated file under the real
    name."""
    path = Path(path)
    with atomic_path(path) as temporary, open(temporary, "x", encoding="utf-8", newline="") as stream:
        stream.write(text)
    return path


@contextmanager
def staging_folder(parent: Path | str, name: str) -> Iterator[Path]:
    """A new empty hidden folder `.<name>-XXXXXXXX` in `parent` (created if needed), on the file system of the
    folders that its contents replace; removed on exit with whatever is left in it (a failure the disk caused is a
    :class:`DiskError` naming `parent/name`)."""
    parent = Path(parent)
    with writing(parent / name):
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        with writing(parent / name, cleanup=lambda: shutil.rmtree(staging, ignore_errors=True)):
            yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_asides(target: Path) -> None:
    """Old folders of `target` that a killed :func:`replace_folder_atomic` had set aside but not yet deleted."""
    pattern = re.compile(rf"\.{re.escape(target.name)}-old-[a-z0-9_]{{8}}")
    with os.scandir(target.parent) as entries:
        stale = [
            entry.path for entry in entries if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
        ]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def replace_folder_atomic(source: Path | str, target: Path | str) -> Path:
    """Move the complete folder (or file) `source` to `target` on the same file system, replacing an older `target`.

    A folder cannot be renamed over a non-empty one, so an older folder `target` is first renamed aside, then
    `source` is renamed into place, then the old one is deleted. Under the name `target` there is only ever the whole
    old folder or the whole new one, never a partly deleted or partly written one: if the second rename fails, the old
    folder is put back; a process killed between the two renames leaves no `target` (and the old folder aside, which
    the next call removes). Anything but a folder at `target` is replaced with a plain rename. Returns `target`.
    """
    source, target = Path(source), Path(target)
    _remove_stale_asides(target)
    if not target.is_dir() or target.is_symlink():
        os.replace(source, target)
        return target
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    old = aside / target.name
    os.replace(target, old)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(old, target)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return target

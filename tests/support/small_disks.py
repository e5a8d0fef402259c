"""A real small file system (tmpfs) that the tests fill up (and enlarge again), for the disk-fault tests.

Mounting needs root (CI runs as root; elsewhere the tests that need it skip, saying why)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILLER = ".filler"


def mount_problem(folder: Path) -> str | None:
    """Why a tmpfs cannot be mounted here (None if it can)."""
    if os.geteuid() != 0:
        return "mounting a small tmpfs needs root (CI runs as root)"
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if result.returncode != 0:
        return f"mount -t tmpfs failed: {result.stderr.decode().strip()}"
    subprocess.run(["umount", str(folder)], check=True)
    return None


@contextmanager
def small_disk(folder: Path, size_mb: int) -> Iterator[Path]:
    """`folder` as a tmpfs of `size_mb` MiB for the block; unmounted after it."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def fill(disk: Path) -> None:
    """Take every free byte of the file system of `disk` (a file the writers cannot remove)."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    descriptor = os.open(disk / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.posix_fallocate(descriptor, os.fstat(descriptor).st_size, max(free, 1))
    except OSError:
        pass  # the last pages: posix_fallocate takes what it can
    finally:
        os.close(descriptor)


def hidden_files(folder: Path) -> set[Path]:
    """The hidden files and folders under `folder` but the filler: where the atomic writers' temporaries and staging
    folders would be."""
    return {path for path in folder.rglob(".*") if path.name != FILLER}

"""Tests of hanseg.dataset.download against a real HTTP server on 127.0.0.1 (see ``http_server.py``).

A real server rather than a mocked urllib: the failures that matter (a socket closed mid-body, a reset,
a stalled read, a server that ignores Range) only happen on real connections.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from hanseg.dataset import download
from hanseg.dataset.download import ChecksumError, DownloadError, download_file, sha256_of
from tests.support.http_server import FileServer, Misbehaviour

# A few MB, not a multiple of the 1 MiB chunk, from a fixed seed so a failure can be reproduced.
PAYLOAD = random.Random(7442914).randbytes(3 * 1024 * 1024 + 12345)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
DROP_AT = 1_000_003  # an odd offset, inside the first MiB chunk

# Tiny backoff so the retry tests take milliseconds.
FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5.0, "progress": False}


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer(PAYLOAD) as running:
        yield running


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "downloads" / "HaN-Seg.zip"


def part_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def bad_of(dest: Path) -> Path:
    return dest.with_name(dest.name + ".bad")


def test_clean_download_is_byte_identical_and_verified(server: FileServer, dest: Path) -> None:
    result = download_file(server.url, dest, sha256=PAYLOAD_SHA256, size=len(PAYLOAD), **FAST)

    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()
    assert [(r.status, r.range) for r in server.requests] == [(200, None)]
    assert server.requests[0].user_agent == "hanseg-workflow"


def test_sha256_of_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert sha256_of(path, chunk_bytes=4096) == PAYLOAD_SHA256


def test_dropped_connection_resumes_from_bytes_on_disk(server: FileServer, dest: Path) -> None:
    server.misbehaviour.drop_after = [DROP_AT]

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    first, second = server.requests
    assert first.body_bytes_sent == DROP_AT
    assert second.range == f"bytes={DROP_AT}-"
    assert second.status == 206
    assert dest.read_bytes() == PAYLOAD


def test_connection_reset_is_retried(server: FileServer, dest: Path) -> None:
    server.misbehaviour.reset_after = [DROP_AT]

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    # How much survives an RST depends on the kernel; what matters is that the retry completes the file.
    assert len(server.requests) == 2
    assert dest.read_bytes() == PAYLOAD


def test_stalled_server_times_out_and_resumes(server: FileServer, dest: Path) -> None:
    server.misbehaviour.stall_after = [DROP_AT]
    server.misbehaviour.stall_s = 1.0

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **{**FAST, "timeout_s": 0.2})

    # Bytes received before the silence are kept (read1), so the retry asks for the rest only.
    assert server.requests[1].range == f"bytes={DROP_AT}-"
    assert dest.read_bytes() == PAYLOAD


def test_server_error_once_then_ok(server: FileServer, dest: Path) -> None:
    server.misbehaviour.fail_statuses = [500]

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    assert [r.status for r in server.requests] == [500, 200]
    assert dest.read_bytes() == PAYLOAD


def test_wrong_bytes_raise_checksum_error_and_are_kept_aside(server: FileServer, dest: Path) -> None:
    server.misbehaviour.corrupt = True
    bad_of(dest).parent.mkdir(parents=True)
    bad_of(dest).write_bytes(b"an older bad download")

    with pytest.raises(ChecksumError) as caught:
        download_file(server.url, dest, sha256=PAYLOAD_SHA256, size=len(PAYLOAD), **FAST)

    assert not dest.exists()
    assert not part_of(dest).exists()
    assert bad_of(dest).stat().st_size == len(PAYLOAD)  # the new bad file replaced the old one
    message = str(caught.value)
    assert PAYLOAD_SHA256 in message
    assert sha256_of(bad_of(dest)) in message
    assert str(bad_of(dest)) in message


def test_not_found_fails_at_once(server: FileServer, dest: Path) -> None:
    url = server.url_for("missing.zip")

    with pytest.raises(DownloadError) as caught:
        download_file(url, dest, **FAST)

    assert not isinstance(caught.value, ChecksumError)
    assert "404" in str(caught.value)
    assert url in str(caught.value)
    assert len(server.requests) == 1
    assert not dest.exists()


def test_retries_exhausted_keep_part_and_next_run_resumes(server: FileServer, dest: Path) -> None:
    server.misbehaviour.drop_at_offset = DROP_AT  # every answer dies at the same byte

    with pytest.raises(DownloadError, match="kept") as caught:
        download_file(server.url, dest, sha256=PAYLOAD_SHA256, retries=2, **FAST)

    assert not isinstance(caught.value, ChecksumError)
    assert not dest.exists()
    assert part_of(dest).stat().st_size == DROP_AT
    # One attempt that made progress, then 1 + 2 retries that brought nothing.
    assert len(server.requests) == 4

    server.misbehaviour = Misbehaviour()  # the server recovers; a new run picks up the kept part
    seen_before = len(server.requests)
    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    assert [r.range for r in server.requests[seen_before:]] == [f"bytes={DROP_AT}-"]
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()


def test_server_ignoring_range_restarts_from_zero(server: FileServer, dest: Path) -> None:
    server.misbehaviour.drop_after = [DROP_AT]
    server.misbehaviour.ignore_range = True

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    second = server.requests[1]
    assert (second.range, second.status) == (f"bytes={DROP_AT}-", 200)
    assert dest.read_bytes() == PAYLOAD


def test_existing_verified_dest_is_not_downloaded_again(server: FileServer, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(PAYLOAD)

    assert download_file(server.url, dest, sha256=PAYLOAD_SHA256, size=len(PAYLOAD), **FAST) == dest
    assert server.requests == []


def test_existing_dest_with_wrong_hash_is_left_alone(server: FileServer, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"somebody's own file")

    with pytest.raises(ChecksumError, match="Delete it"):
        download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)

    assert dest.read_bytes() == b"somebody's own file"
    assert server.requests == []


def test_complete_part_is_confirmed_by_416_and_installed(server: FileServer, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    part_of(dest).write_bytes(PAYLOAD)

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **FAST)  # size unknown: ask the server

    assert [(r.range, r.status) for r in server.requests] == [(f"bytes={len(PAYLOAD)}-", 416)]
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_of_known_size_needs_no_request(server: FileServer, dest: Path) -> None:
    dest.parent.mkdir(parents=True)
    part_of(dest).write_bytes(PAYLOAD)

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, size=len(PAYLOAD), **FAST)

    assert server.requests == []
    assert dest.read_bytes() == PAYLOAD


def test_size_disagreeing_with_server_fails_before_downloading(server: FileServer, dest: Path) -> None:
    with pytest.raises(DownloadError, match=str(len(PAYLOAD))):
        download_file(server.url, dest, size=len(PAYLOAD) + 1, **FAST)

    assert len(server.requests) == 1
    assert not dest.exists()


def test_retries_back_off_exponentially_up_to_the_cap(
    server: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.misbehaviour.always_status = 503
    delays: list[float] = []
    monkeypatch.setattr(download.time, "sleep", delays.append)

    with pytest.raises(DownloadError, match="503"):
        download_file(server.url, dest, retries=4, backoff_s=1.0, max_backoff_s=5.0, progress=False)

    assert len(server.requests) == 5
    assert delays == [1.0, 2.0, 4.0, 5.0]


def test_progress_line_and_retry_logs(
    server: FileServer, dest: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    server.misbehaviour.drop_after = [DROP_AT]
    caplog.set_level(logging.INFO, logger=download.logger.name)

    download_file(server.url, dest, sha256=PAYLOAD_SHA256, **{**FAST, "progress": True})

    stderr = capsys.readouterr().err
    assert "\r" in stderr
    assert "100.0 %" in stderr
    retry_logs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retry_logs) == 1
    assert "interrupted" in retry_logs[0]
    assert f"{DROP_AT} on disk" in retry_logs[0]
    progress_logs = [r.getMessage() for r in caplog.records if " %" in r.getMessage()]
    assert len(progress_logs) >= 5  # about every 10 %


def test_bad_sha256_argument_is_rejected_before_any_request(server: FileServer, dest: Path) -> None:
    with pytest.raises(ValueError, match="64 hex"):
        download_file(server.url, dest, sha256="abc", **FAST)
    assert server.requests == []

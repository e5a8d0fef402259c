"""Resumable, verified HTTP download of one big file (the 4.9 GB HaN-Seg archive from Zenodo).

Why not a plain ``urlretrieve``: a multi-gigabyte transfer from a cluster node is often cut off, and starting
over each time can make it never finish. So the bytes go to ``<dest>.part``, a later attempt (or a later run)
asks for the rest with an HTTP ``Range`` request, and only a file whose size and SHA-256 check out is moved
into place -- atomically, so a Snakemake rule never sees a half-written or corrupt archive under its output
name. Only the standard library is used, so the download works before any environment is built.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import os
import re
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from hanseg.core.defaults import DOWNLOAD_RETRIES

__all__ = ["ChecksumError", "DownloadError", "download_file", "sha256_of"]

logger = logging.getLogger(__name__)

USER_AGENT = "hanseg-workflow"

#: HTTP statuses worth retrying: the server or a proxy is busy or failed for now.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE_RE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

_MB = 1_000_000  # progress is shown in decimal MB, as Zenodo states the archive's size


class DownloadError(RuntimeError):
    """The file could not be fetched; the message names the URL or file and what went wrong."""


class ChecksumError(DownloadError):
    """The bytes arrived but are not the expected ones (SHA-256 mismatch)."""


class _TransientError(Exception):
    """A failure worth retrying (dropped connection, 5xx...); ``reason`` goes into the log and the error."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def sha256_of(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks so a 5 GB archive does not need 5 GB of memory."""
    digest = hashlib.sha256()
    buffer = bytearray(chunk_bytes)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while n_read := stream.readinto(buffer):
            digest.update(view[:n_read])
    return digest.hexdigest()


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int = DOWNLOAD_RETRIES,
    backoff_s: float = 2.0,
    max_backoff_s: float = 60.0,
    timeout_s: float = 60.0,
    chunk_bytes: int = 1 << 20,
    progress: bool | None = None,
    log: logging.Logger | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a kept ``<dest>.part``, and verify it before moving it in place.

    - An existing ``dest`` is trusted if it matches ``sha256`` (and ``size``): no network is used. If it
      does not match, ``ChecksumError`` is raised and the file is left alone: it is the user's to delete.
    - Dropped connections, timeouts and HTTP 408/429/5xx are retried with exponential backoff
      (``backoff_s * 2**k``, at most ``max_backoff_s``). ``retries`` is how many retries may follow one
      another without progress; any attempt that grows the part file beyond its largest size so far resets
      that count. When they run out, ``DownloadError`` is raised and ``<dest>.part`` is kept so the next run
      resumes from it.
    - Other HTTP 4xx answers (404, 403...) fail at once.
    - A complete file of the wrong size or SHA-256 is renamed to ``<dest>.bad`` (never moved into place) and
      ``DownloadError`` / ``ChecksumError`` is raised.
    - ``progress=None`` shows a one-line progress display only when stderr is a terminal; progress is also
      logged every ~10 % or 30 s so batch-job logs show it.

    Returns the path of the verified file.
    """
    dest = Path(dest)
    log = log or logger
    expected_sha = _normalise_sha256(sha256)
    if size is not None and size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")

    if dest.exists():
        _check_existing(dest, expected_sha, size, log)
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    show_line = sys.stderr.isatty() if progress is None else progress
    meter = _ProgressMeter(dest.name, log, sys.stderr if show_line else None)

    try:
        total = _fetch_until_complete(
            url, part, size, retries, backoff_s, max_backoff_s, timeout_s, chunk_bytes, meter, log
        )
        meter.finish()
        _verify_and_install(part, dest, url, total, expected_sha, log)
    finally:
        meter.end_line()  # a failure must not leave the terminal mid-line
    return dest


def _fetch_until_complete(
    url: str,
    part: Path,
    size: int | None,
    retries: int,
    backoff_s: float,
    max_backoff_s: float,
    timeout_s: float,
    chunk_bytes: int,
    meter: _ProgressMeter,
    log: logging.Logger,
) -> int | None:
    """Fetch into ``part`` until the server says it is whole, retrying with backoff; return the total size."""
    total = size  # what the file's size must be; learnt from the server if the caller did not say
    # Progress means the part grew past the largest size it ever had: a server that ignores Range and always
    # drops at the same byte makes "bytes received" every time but no progress, and must not loop forever.
    high_water = part.stat().st_size if part.exists() else 0
    failures = 0  # consecutive attempts that made no progress
    while True:
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have > total:
            log.warning("%s holds %d bytes, more than the expected %d; starting over", part, have, total)
            _truncate(part)
            have = 0
        if total is not None and have == total and part.exists():
            # A complete .part, from an earlier run or confirmed by a 416: nothing left to fetch.
            return total
        meter.start_attempt(have, total)
        try:
            total, complete = _fetch_once(url, part, have, total, timeout_s, chunk_bytes, meter, log)
            failure: _TransientError | None = None
        except _TransientError as err:
            complete, failure = False, err
        if complete:
            return total

        now_have = part.stat().st_size if part.exists() else 0
        failures = 0 if now_have > high_water else failures + 1
        high_water = max(high_water, now_have)
        if failure is None:
            # A short range, or a restart from byte 0 (range refused or misplaced): go again at once.
            if failures > retries:
                raise DownloadError(f"giving up on {url}: the server keeps refusing the byte range of {part}")
            continue

        meter.end_line()
        if failures > retries:
            raise DownloadError(
                f"giving up on {url}: {failures} attempts in a row made no progress "
                f"(last error: {failure.reason}). The partial file {part} ({now_have} bytes) is kept; "
                "run again to resume from it."
            ) from failure
        delay = min(backoff_s * 2 ** max(failures - 1, 0), max_backoff_s)
        if failure.retry_after_s is not None:
            delay = min(max(delay, failure.retry_after_s), max_backoff_s)
        log.warning(
            "download of %s interrupted (%s) after %d new bytes, %d on disk; retrying in %.2f s "
            "(%d of %d retries without progress used)",
            url,
            failure.reason,
            meter.received_this_attempt,
            now_have,
            delay,
            failures,
            retries,
        )
        time.sleep(delay)


def _normalise_sha256(sha256: str | None) -> str | None:
    """Accept upper case and a ``sha256:`` prefix; reject a malformed digest before any work is done."""
    if sha256 is None:
        return None
    digest = sha256.strip().lower().removeprefix("sha256:")
    if not _SHA256_RE.match(digest):
        raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
    return digest


def _check_existing(dest: Path, expected_sha: str | None, size: int | None, log: logging.Logger) -> None:
    """Trust an existing file only if it verifies; never delete it, since it may be the user's own copy."""
    actual_size = dest.stat().st_size
    if size is not None and actual_size != size:
        raise DownloadError(
            f"{dest} already exists but holds {actual_size} bytes, not the expected {size}. "
            "Delete it (or move it away) to download it again."
        )
    if expected_sha is not None:
        actual_sha = sha256_of(dest)
        if actual_sha != expected_sha:
            raise ChecksumError(
                f"{dest} already exists but its SHA-256 is {actual_sha}, not the expected {expected_sha}. "
                "Delete it (or move it away) to download it again."
            )
        log.info("%s already present and verified (sha256 %s)", dest, actual_sha)
    else:
        log.info("%s already present (no checksum given, not verified)", dest)


def _fetch_once(
    url: str,
    part: Path,
    have: int,
    total: int | None,
    timeout_s: float,
    chunk_bytes: int,
    meter: _ProgressMeter,
    log: logging.Logger,
) -> tuple[int | None, bool]:
    """One HTTP request: append what the server sends to ``part``.

    Returns (total size as now known, whether the file is complete). Raises
    ``_TransientError`` for what a retry may cure and ``DownloadError`` for what it cannot.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    if have > 0:
        request.add_header("Range", f"bytes={have}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = response.status
            declared_length = _int_header(response.headers.get("Content-Length"))
            if status == 206:
                start, server_total = _parse_content_range(response.headers.get("Content-Range"), url)
                if start != have:
                    # Appending would corrupt the file; drop what we have and start clean.
                    log.warning("%s answered a range starting at %d, not %d; starting over", url, start, have)
                    _truncate(part)
                    return total, False
            else:  # 200 (or another 2xx): the whole file, whatever we asked for
                if have > 0:
                    log.warning("%s ignored the Range request; downloading %s from the start", url, part.name)
                    _truncate(part)
                    have = 0
                server_total = declared_length
            total = _reconcile_total(total, server_total, url)
            meter.start_attempt(have, total)  # the total may only now be known
            received = _stream_to_part(response, part, chunk_bytes, meter)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and have > 0:
            known_total = _handle_unsatisfiable_range(err, part, have, total, url, log)
            return known_total, have == known_total
        if err.code in RETRYABLE_STATUSES:
            retry_after = _int_header(err.headers.get("Retry-After")) if err.headers else None
            raise _TransientError(f"HTTP {err.code} {err.reason}", retry_after) from err
        raise DownloadError(f"HTTP {err.code} {err.reason} for {url}") from err
    except urllib.error.URLError as err:
        if isinstance(err.reason, ssl.SSLCertVerificationError):
            raise DownloadError(f"TLS certificate of {url} could not be verified: {err.reason}") from err
        raise _TransientError(f"cannot reach {url}: {err.reason}") from err
    except (http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError) as err:
        # IncompleteRead, RemoteDisconnected, ConnectionResetError, socket timeouts, TLS records cut off.
        raise _TransientError(f"{type(err).__name__}: {err}") from err

    if declared_length is not None and received < declared_length:
        raise _TransientError(f"connection closed after {received} of {declared_length} bytes")
    if total is not None and have + received < total:
        return total, False  # a short but well-formed range (some servers cap them): ask for the rest
    return total, True


def _stream_to_part(response: http.client.HTTPResponse, part: Path, chunk_bytes: int, meter: _ProgressMeter) -> int:
    """Append the response body to ``part``; bytes that came before a drop are flushed, fsynced and kept.

    ``read1`` returns what the socket has instead of waiting for a full chunk, so a timeout or reset loses
    nothing already received; the file's ``chunk_bytes`` buffer turns those pieces back into large writes.
    """
    received = 0
    with _disk_errors(part):
        # Closed in the finally below, after the fsync.
        out: BinaryIO = open(part, "ab", buffering=max(chunk_bytes, io.DEFAULT_BUFFER_SIZE))
    try:
        while chunk := response.read1(chunk_bytes):
            with _disk_errors(part):
                out.write(chunk)
            received += len(chunk)
            meter.update(len(chunk))
    finally:
        with _disk_errors(part):
            out.flush()
            os.fsync(out.fileno())
            out.close()
    return received


@contextmanager
def _disk_errors(path: Path) -> Iterator[None]:
    """Turn a local write failure (disk full, permissions) into a DownloadError naming the file."""
    try:
        yield
    except OSError as err:
        raise DownloadError(f"writing {path} failed: {err}") from err


def _truncate(part: Path) -> None:
    with _disk_errors(part):
        with open(part, "wb"):
            pass


def _handle_unsatisfiable_range(
    err: urllib.error.HTTPError, part: Path, have: int, total: int | None, url: str, log: logging.Logger
) -> int | None:
    """416 to ``Range: bytes=N-``: the part is probably whole already; if it cannot be, start over."""
    match = _UNSATISFIED_RANGE_RE.match(err.headers.get("Content-Range", "")) if err.headers else None
    server_total = int(match.group(1)) if match else None
    known_total = _reconcile_total(total, server_total, url)
    if known_total is not None and have == known_total:
        return known_total  # the part is whole: the caller goes on to verification
    log.warning("%s refused the range bytes=%d- (HTTP 416); starting %s over", url, have, part.name)
    _truncate(part)
    return known_total


def _parse_content_range(value: str | None, url: str) -> tuple[int, int | None]:
    """(first byte, total size or None) from ``Content-Range: bytes START-END/TOTAL``."""
    match = _CONTENT_RANGE_RE.match(value or "")
    if not match:
        raise _TransientError(f"206 answer from {url} without a usable Content-Range ({value!r})")
    total = match.group(3)
    return int(match.group(1)), None if total == "*" else int(total)


def _reconcile_total(expected: int | None, from_server: int | None, url: str) -> int | None:
    """The size both sides agree on; a disagreement means a different file, so fail before fetching 5 GB."""
    if expected is not None and from_server is not None and expected != from_server:
        raise DownloadError(f"{url} is {from_server} bytes according to the server, but {expected} were expected")
    return expected if expected is not None else from_server


def _int_header(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _verify_and_install(
    part: Path, dest: Path, url: str, total: int | None, expected_sha: str | None, log: logging.Logger
) -> None:
    """Check size then SHA-256 of the finished part; only a verified file is moved to ``dest``."""
    bad = dest.with_name(dest.name + ".bad")
    actual_size = part.stat().st_size
    if total is not None and actual_size != total:
        os.replace(part, bad)
        raise DownloadError(
            f"download of {url} ended with {actual_size} bytes instead of {total}; "
            f"the file is kept as {bad} and the next run starts over"
        )
    if expected_sha is not None:
        started = time.monotonic()
        actual_sha = sha256_of(part)
        log.info("sha256 of %s computed in %.1f s", part.name, time.monotonic() - started)
        if actual_sha != expected_sha:
            os.replace(part, bad)
            raise ChecksumError(
                f"checksum mismatch for {url}: expected sha256 {expected_sha}, got {actual_sha}; "
                f"the downloaded file is kept as {bad} and the next run downloads it again"
            )
    os.replace(part, dest)
    log.info(
        "downloaded %s (%d bytes%s)",
        dest,
        actual_size,
        ", sha256 verified" if expected_sha is not None else ", no checksum given",
    )


class _ProgressMeter:
    """Progress for people (a ``\\r`` line on a terminal) and for batch logs (a line every ~10 % or 30 s)."""

    LOG_EVERY_S = 30.0
    LOG_EVERY_FRACTION = 0.10
    REDRAW_EVERY_S = 0.2

    def __init__(self, name: str, log: logging.Logger, stream: TextIO | None) -> None:
        self.name = name
        self.log = log
        self.stream = stream
        self.started = time.monotonic()
        self.fetched = 0  # bytes received in this call, over all attempts: the speed's numerator
        self.done = 0  # bytes on disk
        self.total: int | None = None
        self.received_this_attempt = 0
        self.last_log_time = self.started
        self.last_log_fraction = 0.0
        self.last_draw = 0.0
        self.line_open = False

    def start_attempt(self, have: int, total: int | None) -> None:
        self.done = have
        self.total = total
        self.received_this_attempt = 0
        if total:
            # Log at the next 10 % step above what is already there, not at every step resumed past.
            self.last_log_fraction = have / total

    def update(self, n_bytes: int) -> None:
        self.done += n_bytes
        self.fetched += n_bytes
        self.received_this_attempt += n_bytes
        now = time.monotonic()
        if self.stream is not None and now - self.last_draw >= self.REDRAW_EVERY_S:
            self.last_draw = now
            self.stream.write("\r" + self._describe(now) + "   ")
            self.stream.flush()
            self.line_open = True
        fraction = self.done / self.total if self.total else 0.0
        if now - self.last_log_time >= self.LOG_EVERY_S or fraction - self.last_log_fraction >= self.LOG_EVERY_FRACTION:
            self.last_log_time = now
            self.last_log_fraction = fraction
            self.end_line()
            self.log.info("%s: %s", self.name, self._describe(now))

    def end_line(self) -> None:
        """Finish the ``\\r`` line so the next log message does not overwrite or merge with it."""
        if self.stream is not None and self.line_open:
            self.stream.write("\n")
            self.stream.flush()
            self.line_open = False

    def finish(self) -> None:
        now = time.monotonic()
        if self.stream is not None:
            self.stream.write("\r" + self._describe(now) + "   ")
            self.line_open = True
        self.end_line()
        self.log.info("%s: transfer finished, %s", self.name, self._describe(now))

    def _describe(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        speed = self.fetched / elapsed
        done_mb = self.done / _MB
        if not self.total:
            return f"{done_mb:,.1f} MB  {speed / _MB:,.1f} MB/s"
        eta = (self.total - self.done) / speed if speed > 0 else float("inf")
        return (
            f"{100 * self.done / self.total:5.1f} %  {done_mb:,.1f}/{self.total / _MB:,.1f} MB  "
            f"{speed / _MB:,.1f} MB/s  ETA {_format_duration(eta)}"
        )


def _format_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"

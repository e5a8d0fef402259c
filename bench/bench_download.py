"""Benchmark hanseg.dataset.download against a local HTTP server: clean transfer, transfer with drops, and SHA-256.

Run on demand (not a test): ``python bench/bench_download.py [--mb 512]``. It answers "do resuming and
verifying cost much?" for the 4.9 GB HaN-Seg archive. The figures bound what the downloader itself can do
(loopback, server in the same process and so sharing the GIL); they do not predict Zenodo's speed.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.support: the shared test server
sys.path.insert(0, str(REPO_ROOT / "workflow" / "scripts"))  # hanseg, even without the editable install

from hanseg.dataset.download import download_file, sha256_of  # noqa: E402
from tests.support.http_server import FileServer, Misbehaviour  # noqa: E402

MB = 1_000_000


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512, help="size of the served file in MB (default 512)")
    parser.add_argument("--drops", type=int, default=2, help="forced connection drops in the drop run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the median is shown")
    parser.add_argument("--tmpdir", default=None, help="where to write the downloads (default: system temp)")
    args = parser.parse_args(argv)
    # Retry warnings on stdout, in order with the rest of the output.
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="  %(levelname)s %(message)s")

    n_bytes = args.mb * MB
    print(f"generating {args.mb} MB of random bytes ...", flush=True)
    payload = os.urandom(n_bytes)
    expected_sha = hashlib.sha256(payload).hexdigest()

    rows: list[tuple[str, int, float]] = []
    with FileServer(payload) as server, tempfile.TemporaryDirectory(dir=args.tmpdir) as workdir:
        dest = Path(workdir) / "HaN-Seg.zip"

        def run_case(label: str, cuts: list[int], sha256: str | None) -> None:
            runs: list[float] = []
            for _ in range(args.repeat):
                dest.unlink(missing_ok=True)
                # A fresh list each run: the server consumes one cut per request.
                server.misbehaviour = Misbehaviour(drop_after=list(cuts))
                seen_before = len(server.requests)
                runs.append(
                    timed(
                        lambda: download_file(
                            server.url, dest, sha256=sha256, size=n_bytes, backoff_s=0.01, progress=False
                        )
                    )
                )
                if sha256_of(dest) != expected_sha:
                    raise SystemExit(f"{label}: downloaded file differs from the served one")
            rows.append((label, len(server.requests) - seen_before, statistics.median(runs)))

        run_case("clean, no checksum (transfer only)", [], None)
        run_case("clean, sha256 verified", [], expected_sha)
        # Each cut is relative to the request's first byte, so the drops fall at 1/(k+1), 2/(k+1), ...
        cuts = [n_bytes // (args.drops + 1)] * args.drops
        run_case(f"{args.drops} drops, sha256 verified", cuts, expected_sha)
        hash_runs = [timed(lambda: sha256_of(dest)) for _ in range(args.repeat)]
        rows.append(("sha256_of on the file (page cache)", 0, statistics.median(hash_runs)))

    print()
    print(
        f"file: {args.mb} MB, loopback, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"median of {args.repeat} runs"
    )
    header = f"{'case':<38} {'requests/run':>12} {'seconds':>8} {'MB/s':>8}"
    print(header)
    print("-" * len(header))
    for label, n_requests, seconds in rows:
        print(f"{label:<38} {n_requests:>12} {seconds:>8.2f} {n_bytes / MB / seconds:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

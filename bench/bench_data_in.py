"""Benchmark the data-in stage: phantom generation and inventory on realistic-size cases.

Run on demand (not a test): ``python bench/bench_data_in.py [--cases 42] [--shape 512x512x150]``.
Prints seconds per case for generating the phantom and for validating it (the inventory reads every CT, MR and
mask in full), the disk use per case, and the peak memory of each stage. For the download throughput, see
``bench/bench_download.py``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from hanseg.cli.options import shape as _shape  # noqa: E402
from hanseg.core import dataset_layout  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _generate(out: str, cases: int, shape: tuple[int, int, int]) -> tuple[float, float]:
    from hanseg.dataset.phantom import PhantomOptions, generate

    started = time.perf_counter()
    generate(out, PhantomOptions(cases=cases, seed=0, ct_shape=shape))
    return time.perf_counter() - started, _peak_mb()


def _inventory(root: str) -> tuple[float, float, list[float]]:
    from hanseg.dataset.inventory import inspect_case
    from hanseg.dataset.metadata import read_organ_availability, read_patients

    set_folder = dataset_layout.set_dir(root)
    started = time.perf_counter()
    availability = read_organ_availability(set_folder / dataset_layout.OAR_CSV)
    patients = read_patients(set_folder / dataset_layout.PATIENT_CSV)
    per_case = []
    for case in dataset_layout.list_cases(root):
        t0 = time.perf_counter()
        inspect_case(root, case, availability, patients)
        per_case.append(time.perf_counter() - t0)
    return time.perf_counter() - started, _peak_mb(), per_case


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=42)
    parser.add_argument("--shape", type=_shape, default=(512, 512, 150), help="CT matrix x,y,z")
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args(argv)
    context = get_context("spawn")  # a fresh process per stage, so each peak memory is its own
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        with context.Pool(1) as pool:
            seconds, peak = pool.apply(_generate, (tmp, args.cases, args.shape))
        root = Path(tmp) / dataset_layout.TOP_DIR
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        with context.Pool(1) as pool:
            inv_seconds, inv_peak, per_case = pool.apply(_inventory, (str(root),))
    shape = "x".join(map(str, args.shape))
    print(f"phantom: {args.cases} cases, CT {shape}")
    print(f"{'stage':<22}{'total s':>10}{'s/case':>10}{'peak MB':>10}")
    print(f"{'phantom generation':<22}{seconds:>10.1f}{seconds / args.cases:>10.2f}{peak:>10.0f}")
    print(f"{'inventory (validate)':<22}{inv_seconds:>10.1f}{inv_seconds / args.cases:>10.2f}{inv_peak:>10.0f}")
    print(f"disk: {size / 1e6:.0f} MB in all, {size / 1e6 / args.cases:.1f} MB per case (gzip NRRD)")
    print(f"inventory per case: min {min(per_case):.2f} s, max {max(per_case):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

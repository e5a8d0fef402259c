"""Benchmark the demo's CPU plans against nnU-Net's own plans of the same data, side by side, on the CPU.

Run on demand (not a test): ``python bench/bench_cpu_plans.py [--cases 4] [--iterations 10]``.
Phantom cases as the demo makes them (``config/demo.yaml``: phantom size, grid, body crop; the MR placed with the
phantom's rigid ground truth, no elastix here), one nnU-Net planning, then for each of

- nnU-Net's own plans with ``HanSegTrainer`` (what the paper's run would train on this data),
- the demo's derived plans (``nnunet.plans_overrides``) with ``HanSegTrainer`` (the network alone),
- the demo's derived plans with the demo's trainer (``nnunet.trainer``),

a short training (seconds per training iteration from nnU-Net's own epoch timestamps, start-up excluded) and the
prediction of one held-out case (seconds, model loading excluded). Ratios are measured in one run, side by side.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO))  # tests.support: the shared phantom-case helper

DATASET_ID, DATASET_NAME, CONFIGURATION = 991, "HanSegCPUBench", "3d_fullres"


def _seconds_per_iteration(checkpoint: Path, iterations: int) -> float:
    """Median epoch time / iterations from the checkpoint's log (the first epoch's warm-up left out if possible)."""
    import numpy as np
    import torch

    logging = torch.load(checkpoint, map_location="cpu", weights_only=False)["logging"]
    times = np.subtract(logging["epoch_end_timestamps"], logging["epoch_start_timestamps"])
    return float(np.median(times[1:] if len(times) > 1 else times)) / iterations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "config/demo.yaml"), help="the demo config to benchmark")
    parser.add_argument("--cases", type=int, default=4, help="phantom cases; the last one is predicted (default 4)")
    parser.add_argument("--iterations", type=int, default=10, help="training iterations per epoch (3 epochs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args(argv)
    demo = yaml.safe_load(Path(args.config).read_text())
    nnunet = demo["nnunet"]
    spacing = demo["preprocessing"]["target_spacing"]

    from hanseg.core import dataset_layout
    from hanseg.dataset.phantom import PhantomOptions, generate
    from hanseg.nnunet import model_folder
    from hanseg.nnunet.plan import plan_and_preprocess, write_derived_plans
    from hanseg.nnunet.predict import Predictor
    from hanseg.nnunet.train import train_fold
    from tests.support.phantom_cases import resampled_phantom_case, write_holdout_dataset

    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        base = Path(tmp)
        shape = tuple(demo["dataset"]["phantom"]["shape"])
        generate(base / "phantom", PhantomOptions(cases=args.cases, seed=0, ct_shape=shape))
        cases = {}
        for index in range(1, args.cases + 1):
            case = dataset_layout.case_id(index)
            cases[case], summary = resampled_phantom_case(
                base / "phantom", case, base / "resampled" / case, spacing, body_crop=demo["preprocessing"]["body_crop"]
            )
        test_case = dataset_layout.case_id(args.cases)
        root = base / "nnunet"
        write_holdout_dataset(root, DATASET_ID, DATASET_NAME, cases, test_case)
        own = plan_and_preprocess(root, DATASET_ID, DATASET_NAME, CONFIGURATION, processes=args.threads)
        overrides = nnunet["plans_overrides"]
        derived = write_derived_plans(own, CONFIGURATION, overrides, own.with_name(f"{overrides['name']}.json"))
        for plans_file, trainer in (
            (own, "HanSegTrainer"),
            (derived, "HanSegTrainer"),
            (derived, nnunet["trainer"]),
        ):
            checkpoint = train_fold(
                root,
                DATASET_ID,
                DATASET_NAME,
                CONFIGURATION,
                "all",
                plans_file=plans_file,
                trainer=trainer,
                device="cpu",
                threads=args.threads,
                epochs=3,
                iterations_per_epoch=args.iterations,
                val_iterations_per_epoch=1,
                save_every=3,
            )
            model = model_folder(root, DATASET_ID, DATASET_NAME, CONFIGURATION, trainer=trainer, plans=plans_file.stem)
            predictor = Predictor(model, ["all"], device="cpu", threads=args.threads)
            started = time.perf_counter()
            predictor.predict_files(
                ["CT", "MR"], cases[test_case], base / f"prediction_{trainer}_{plans_file.stem}.nrrd"
            )
            rows.append(
                (
                    plans_file.stem,
                    trainer,
                    _seconds_per_iteration(checkpoint, args.iterations),
                    time.perf_counter() - started,
                )
            )

    print(
        f"{args.cases - 1} training cases of the demo's phantom ({'x'.join(map(str, shape))}) "
        f"on its grid {spacing} mm, body crop {demo['preprocessing']['body_crop']}: {summary['size']} voxels; "
        f"{args.threads} threads, CPU"
    )
    print(f"{'plans':<18} {'trainer':<24} {'s / training iteration':>23} {'s / predicted case':>19}")
    for plans, trainer, per_iteration, predict in rows:
        print(f"{plans:<18} {trainer:<24} {per_iteration:>23.2f} {predict:>19.1f}")
    own_row, demo_row = rows[0], rows[-1]
    print(
        f"demo / nnU-Net's own: {demo_row[2] / own_row[2]:.2f} x the time per iteration, "
        f"{demo_row[3] / own_row[3]:.2f} x the time per predicted case"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

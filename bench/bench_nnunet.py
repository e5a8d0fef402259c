"""Benchmark nnU-Net on realistic-size phantoms: plans, preprocessing time and disk, CPU prediction time.

Run on demand (not a test): ``python bench/bench_nnunet.py [--cases 3] [--shape 512x512x150]``.
A 512 x 512 x 150 phantom CT (300 mm field of view) resampled to 0.5 x 0.5 x 2 mm gives about 600 x 600 x 155 voxels,
the size of a cropped real case. The MR channel is placed with the phantom's rigid ground truth (no elastix here, to
time nnU-Net alone). Prints the planned patch and batch size, preprocessing seconds and disk use per case, and the
CPU seconds to predict one case with a model trained for one iteration (the time does not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO))  # tests.support: the shared phantom-case helper

from hanseg.cli.options import shape as _shape  # noqa: E402
from hanseg.core.defaults import TARGET_SPACING  # noqa: E402

DATASET_ID, DATASET_NAME, CONFIGURATION = 990, "HanSegBench", "3d_fullres"


def _folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3, help="cases; the last one is predicted (default 3)")
    parser.add_argument("--shape", type=_shape, default=(512, 512, 150), help="phantom CT matrix x,y,z")
    parser.add_argument("--spacing", type=float, nargs=3, default=TARGET_SPACING)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmpdir", default=None)
    args = parser.parse_args(argv)

    from hanseg.core import dataset_layout
    from hanseg.dataset.phantom import PhantomOptions, generate
    from hanseg.nnunet import dataset_folder_name, model_folder
    from hanseg.nnunet.plan import plan_and_preprocess
    from hanseg.nnunet.predict import Predictor
    from hanseg.nnunet.train import train_fold
    from tests.support.phantom_cases import resampled_phantom_case, write_holdout_dataset

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        base = Path(tmp)
        generate(base / "phantom", PhantomOptions(cases=args.cases, seed=0, ct_shape=args.shape))
        cases = {}
        started = time.perf_counter()
        for index in range(1, args.cases + 1):
            case = dataset_layout.case_id(index)
            out = base / "resampled" / case
            cases[case], summary = resampled_phantom_case(base / "phantom", case, out, args.spacing)
        resample_seconds = time.perf_counter() - started
        test_case = dataset_layout.case_id(args.cases)
        root = base / "nnunet"
        roots = write_holdout_dataset(root, DATASET_ID, DATASET_NAME, cases, test_case)
        name = dataset_folder_name(DATASET_ID, DATASET_NAME)
        started = time.perf_counter()
        plan_and_preprocess(root, DATASET_ID, DATASET_NAME, CONFIGURATION, processes=args.threads)
        preprocess_seconds = time.perf_counter() - started
        preprocessed = Path(roots["nnUNet_preprocessed"]) / name
        plans = json.loads((preprocessed / "nnUNetPlans.json").read_text())
        configuration = plans["configurations"][CONFIGURATION]
        n_train = args.cases - 1
        disk = _folder_mb(preprocessed / f"nnUNetPlans_{CONFIGURATION}") / n_train
        started = time.perf_counter()
        train_fold(
            root,
            DATASET_ID,
            DATASET_NAME,
            CONFIGURATION,
            "all",
            device="cpu",
            threads=args.threads,
            epochs=1,
            iterations_per_epoch=1,
            val_iterations_per_epoch=1,
            save_every=1,
        )
        train_seconds = time.perf_counter() - started
        predictor = Predictor(
            model_folder(root, DATASET_ID, DATASET_NAME, CONFIGURATION), ["all"], device="cpu", threads=args.threads
        )
        started = time.perf_counter()
        predictor.predict_files(["CT", "MR"], cases[test_case], base / "prediction.nrrd")
        predict_seconds = time.perf_counter() - started

    print(
        f"phantom CT {'x'.join(map(str, args.shape))} -> {summary['size']} voxels at {args.spacing} mm; "
        f"{n_train} training cases, {args.threads} threads, CPU"
    )
    print(
        f"planned 3d_fullres: patch {configuration['patch_size']}, batch {configuration['batch_size']}, "
        f"spacing {[round(v, 3) for v in configuration['spacing']]}, transpose_forward {plans['transpose_forward']}"
    )
    print(f"resampling:                    {resample_seconds / args.cases:8.1f} s per case")
    print(f"fingerprint+plan+preprocess:   {preprocess_seconds / n_train:8.1f} s per training case")
    print(f"preprocessed disk use:         {disk:8.1f} MB per case")
    print(f"training, 1 epoch x 1+1 iters: {train_seconds:8.1f} s (start-up included)")
    print(f"CPU prediction:                {predict_seconds:8.1f} s per case")
    return 0


if __name__ == "__main__":
    sys.exit(main())

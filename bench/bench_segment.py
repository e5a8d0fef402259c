"""Benchmark `hanseg segment`: seconds per stage and the two back-mappings on a finished run; GPU cost of a real case.

Run on demand (not a test):

    python bench/bench_segment.py --results RUN/results [--experiment ct_mr] [--threads 2]
    python bench/bench_segment.py --estimate [--grid 202 1142 1142] [--spacing 2 0.5 0.5]
    python bench/bench_segment.py --backmap-grid 101 571 571

With ``--results`` (a finished run, e.g. the CI phantom's), the run's held-out test case is segmented from its
original CT and MR exactly as the command line does it, once with each back-mapping (``probabilities``, the
default, and ``nearest``), and scored on the CT's own grid against the case's original masks (the paper's
field-of-view rule, the label-map reference), beside the workflow's own evaluation on the model's grid. Printed:
seconds per stage, Dice per evaluated organ, mean Dice over the large organs (>= 5 mL) and over all, mean HD95.

With ``--estimate``, nnU-Net's own planner plans 3d_fullres for a dataset of cases of ``--grid`` voxels (z, y, x) at
``--spacing`` mm (z, y, x) with two channels and 31 classes (an 8 GB GPU target, as the paper's run), and the cost of
predicting one such case is counted: sliding-window tiles (step 0.5 of the patch), forward passes per tile (the tile
plus nnU-Net's test-time mirrorings over HanSegTrainer's allowed axes: every axis but left-right) and the FLOPs of
one forward pass (PyTorch's FLOP counter on the meta device: nothing is computed). Seconds follow for a few GPUs at
a stated sustained throughput.

With ``--backmap-grid`` (z, y, x model voxels at 2 x 0.5 x 0.5 mm), 30 smooth organ-shaped probability blobs of the
paper's organ sizes are brought onto a CT grid of the same extent at 2 x 0.5576 x 0.5576 mm (case_01's), both ways;
seconds and the Python heap's peak (tracemalloc: numpy's and SimpleITK's buffers are not all counted) are printed.
A real case's time is about that of its voxel count (half the grid per axis: eight times less).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))

#: Sustained half-precision throughput of 3D convolutions assumed for the estimate (TFLOP/s): about a
#: quarter of each GPU's dense fp16 tensor peak (V100 125, A100 312, H100 SXM 990).
GPUS = {"V100": 30.0, "A100": 80.0, "H100": 250.0}
LARGE_ML = 5.0


def _held_out(results: Path) -> str:
    import pandas as pd

    split = pd.read_csv(results / "split" / "split.tsv", sep="\t")
    return sorted(split.loc[split["role"] == "test", "case"])[0]


def measure(results: Path, experiment: str, threads: int) -> None:
    import numpy as np
    import pandas as pd
    import SimpleITK as sitk

    from hanseg.core import dataset_layout
    from hanseg.evaluation.case_files import evaluate_files
    from hanseg.jobs.segment import segment_case

    case = _held_out(results)
    folder = results / "data" / "HaN-Seg" / "set_1" / case
    (model,) = (results / "experiments" / experiment / "nnunet" / "results").glob("Dataset*/*__*__*")
    record = json.loads((model / "hanseg_model.json").read_text())
    mr = folder / dataset_layout.mr_name(case) if any(c != "CT" for c in record["channels"]) else None
    fov = results / "cases" / case / "registration" / "fov_mask.nrrd"
    workflow = pd.read_csv(results / "experiments" / experiment / "evaluation" / "cases" / f"{case}.tsv", sep="\t")
    workflow = workflow.set_index("organ")
    voxel_ml = np.prod(sitk.ReadImage(str(results / "cases" / case / "resampled" / "labels.nrrd")).GetSpacing())
    large = workflow.index[workflow["evaluated"] & (workflow["ref_voxels"] * voxel_ml / 1000 >= LARGE_ML)]
    table = {"workflow (model grid)": workflow}
    with tempfile.TemporaryDirectory() as tmp:
        for backmap in ("probabilities", "nearest"):
            started = time.perf_counter()
            summary = segment_case(
                folder / dataset_layout.ct_name(case),
                mr,
                model,
                Path(tmp) / f"{backmap}.nrrd",
                device="cpu",
                threads=threads,
                backmap=backmap,
            )
            wall = time.perf_counter() - started
            print(f"{experiment} {case} backmap {backmap}: {wall:.1f} s; stages {summary['seconds']}")
            rows = evaluate_files(folder, Path(tmp) / f"{backmap}.nrrd", fov, case=case, resolve_overlaps=True)
            table[f"segment {backmap} (CT grid)"] = pd.DataFrame(rows).set_index("organ")
    evaluated = workflow.index[workflow["evaluated"]]
    dice = pd.DataFrame({name: t.loc[evaluated, "dc"] for name, t in table.items()})
    print(dice.round(3).to_string())
    for name, t in table.items():
        hd95 = t.loc[evaluated, "hd95_mm"]
        print(
            f"{name}: mean DC large organs ({len(large)}) {t.loc[large, 'dc'].mean():.4f}, all evaluated "
            f"({len(evaluated)}) {t.loc[evaluated, 'dc'].mean():.4f}; mean HD95 {hd95[np.isfinite(hd95)].mean():.2f} mm"
        )


def estimate(grid: list[int], spacing: list[float]) -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hanseg.nnunet import set_roots
    from hanseg.nnunet.trainer import HanSegTrainer, left_right_axis

    with tempfile.TemporaryDirectory() as tmp:
        set_roots(tmp)
        name = "Dataset990_HanSegEstimate"
        raw, preprocessed = Path(tmp) / "raw" / name, Path(tmp) / "preprocessed" / name
        for folder in (raw / "imagesTr", raw / "labelsTr", preprocessed):
            folder.mkdir(parents=True)
        cases = 42
        for i in range(cases):  # the planner lists the files; it reads nothing but the fingerprint
            for channel in (0, 1):
                (raw / "imagesTr" / f"c{i:02d}_{channel:04d}.nrrd").touch()
            (raw / "labelsTr" / f"c{i:02d}.nrrd").touch()
        labels = {"background": 0, **{f"organ_{i}": i for i in range(1, 31)}}
        dataset = {"channel_names": {"0": "CT", "1": "MR"}, "labels": labels, "numTraining": cases}
        dataset |= {"file_ending": ".nrrd", "overwrite_image_reader_writer": "SimpleITKIO"}
        (raw / "dataset.json").write_text(json.dumps(dataset))
        intensities = {"max": 3000.0, "mean": 100.0, "median": 50.0, "min": -1000.0}
        intensities |= {"percentile_00_5": -900.0, "percentile_99_5": 1500.0, "std": 300.0}
        fingerprint = {
            "foreground_intensity_properties_per_channel": {"0": intensities, "1": intensities},
            "median_relative_size_after_cropping": 1.0,
            "shapes_after_crop": [grid] * cases,
            "spacings": [spacing] * cases,
        }
        (preprocessed / "dataset_fingerprint.json").write_text(json.dumps(fingerprint))
        from nnunetv2.experiment_planning.experiment_planners.default_experiment_planner import ExperimentPlanner
        from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        plans = ExperimentPlanner(990, gpu_memory_target_in_gb=8).plan_experiment()
    manager = PlansManager(plans)
    configuration = manager.get_configuration("3d_fullres")
    patch = list(configuration.patch_size)
    with torch.device("meta"):
        network = HanSegTrainer.build_network_architecture(manager, configuration, 2, 31, enable_deep_supervision=False)
        counter = FlopCounterMode(display=False)
        with counter:
            network(torch.zeros(1, 2, *patch))
    flops = counter.get_total_flops()
    steps = compute_steps_for_sliding_window(grid, patch, 0.5)
    tiles = math.prod(len(s) for s in steps)
    # 3d_fullres mirrors every axis in nnU-Net; HanSegTrainer drops left-right; test-time mirroring predicts the tile
    # as it is and once per non-empty combination of the allowed axes.
    allowed = [a for a in range(3) if a != left_right_axis(manager.transpose_forward)]
    passes = 1 + sum(1 for k in range(1, len(allowed) + 1) for _ in itertools.combinations(allowed, k))
    total = tiles * passes * flops
    features = list(configuration.network_arch_init_kwargs["features_per_stage"])
    print(f"grid {grid} at {spacing} mm (z, y, x): nnU-Net's patch {patch}, features per stage {features}")
    print(f"{sum(p.numel() for p in network.parameters()) / 1e6:.1f} M parameters, {flops / 1e12:.2f} TFLOP per pass")
    print(f"{tiles} tiles ({' x '.join(str(len(s)) for s in steps)}), {passes} passes each: {total / 1e15:.2f} PFLOP")
    for gpu, throughput in GPUS.items():
        print(f"{gpu} at {throughput:g} TFLOP/s sustained: {total / (throughput * 1e12):.0f} s")


def backmap_timing(grid: list[int]) -> None:
    import numpy as np
    import SimpleITK as sitk

    from hanseg.core.defaults import TARGET_SPACING
    from hanseg.core.images import Grid
    from hanseg.preprocessing.backmap import labels_onto, probabilities_onto

    rng = np.random.default_rng(0)
    shape = tuple(grid)
    identity = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    source = Grid(shape[::-1], TARGET_SPACING, (0.0, 0.0, 0.0), identity)
    extent = np.asarray(source.size) * np.asarray(source.spacing)
    ct_spacing = np.array([0.5576, 0.5576, 2.0])
    target = Grid(
        tuple(int(v) for v in np.round(extent / ct_spacing)), tuple(ct_spacing), (-0.25, -0.25, 0.0), identity
    )
    probabilities = np.zeros((31, *shape), np.float16)
    probabilities[0] = 1.0
    labels = np.zeros(shape, np.uint8)
    # Organ radii (mm) from a few mm (cochlea, chiasm) to the mandible's tens; centres inside the middle of the grid.
    radii_mm = np.geomspace(3.0, 35.0, 30)
    for label, radius in enumerate(radii_mm, start=1):
        radius_voxels = radius / np.array([2.0, 0.5, 0.5])
        centre = rng.uniform(0.3, 0.7, 3) * np.array(shape)
        lo = np.maximum(np.floor(centre - 2 * radius_voxels), 0).astype(int)
        hi = np.minimum(np.ceil(centre + 2 * radius_voxels), shape).astype(int)
        zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        distance = np.sqrt(
            ((zz - centre[0]) / radius_voxels[0]) ** 2
            + ((yy - centre[1]) / radius_voxels[1]) ** 2
            + ((xx - centre[2]) / radius_voxels[2]) ** 2
        )
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        organ = (0.95 / (1.0 + np.exp((distance - 1.0) * 8.0))).astype(np.float16)
        probabilities[label][box] = organ
        probabilities[0][box] = np.minimum(probabilities[0][box], 1.0 - organ)
        labels[box][organ > 0.5] = label
    print(f"model grid {shape} (z, y, x) at 2 x 0.5 x 0.5 mm -> CT grid {target.shape} at 2 x 0.5576 x 0.5576 mm")
    print(f"probabilities: {probabilities.nbytes / 1e9:.2f} GB (float16)")

    labels_image = sitk.GetImageFromArray(labels)
    labels_image.SetSpacing(source.spacing)
    for name, run in (
        ("probabilities", lambda: probabilities_onto(probabilities, source, target)),
        ("nearest", lambda: labels_onto(labels_image, target)),
    ):
        tracemalloc.start()
        started = time.perf_counter()
        run()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name}: {seconds:.1f} s, Python-heap peak {peak / 1e9:.2f} GB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a finished run's results folder")
    parser.add_argument("--experiment", default="ct_mr")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--estimate", action="store_true", help="the GPU cost of a real-size case")
    parser.add_argument("--grid", type=int, nargs=3, default=[202, 1142, 1142], metavar=("Z", "Y", "X"))
    parser.add_argument("--spacing", type=float, nargs=3, default=[2.0, 0.5, 0.5], metavar=("Z", "Y", "X"))
    parser.add_argument("--backmap-grid", type=int, nargs=3, metavar=("Z", "Y", "X"), help="time the back-mapping")
    args = parser.parse_args(argv)
    if args.results is None and not args.estimate and args.backmap_grid is None:
        parser.error("give --results RUN/results, --estimate or --backmap-grid Z Y X")
    if args.results is not None:
        measure(args.results, args.experiment, args.threads)
    if args.estimate:
        estimate(args.grid, args.spacing)
    if args.backmap_grid is not None:
        backmap_timing(args.backmap_grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark every per-case stage on phantom cases of the real data's sizes: wall, CPU, peak memory, disk.

Run on demand (not a test): ``python bench/bench_real_size.py [--geometry median largest] [--csv out.csv]``.
Each geometry is one phantom case with the real data's matrix, spacing and field of view (docs/costs.md,
"Per-case stages at real size"); its stages run one after the other, each as its own process through the `hanseg`
command line (nnU-Net's conversion and preprocessing through the package's functions, as the rules call them):
inventory, clip, register (elastix, `--threads`), resample (onto the configured grid), nnU-Net dataset + fingerprint,
plan and preprocess of that case, nnU-Net prediction with a tiny CPU model (trained for one iteration first, a setup
row: what prediction costs depends on the grid, the classes and the patch tiling, not on the weights) of the central
``--predict-slices`` slices of that case's grid (a CPU needs tens of minutes for a whole real-size grid),
figures 1, 3 and 4 of that case, evaluate (against the case's own label map moved
by one voxel: a stand-in prediction, so that the metrics and figure 4 have surfaces to compare). Per stage:

- wall and CPU seconds (user + system of the stage's process and every child it waited for, from ``wait4``);
- peak RSS of the whole process tree, the sum over the stage's process and its descendants sampled every 0.1 s from
  /proc (pages shared between forked workers count once per process, so this errs high, as a scheduler's cgroup
  accounting of private memory would not);
- disk: the bytes of the files the stage wrote (its output folder).

A stage whose tree passes ``--mem-limit-gb`` is killed and reported as such, and the stages that need its output are
skipped (prediction's output is needed by none: its memory grows with the grid times the classes: docs/costs.md,
"Prediction memory").
Geometries are presets (``--geometry median``) or ``NAME:CTxCTxCT:FOV_MM:SLICE_MM:MRxMRxMR:SXxSYxSZ``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from hanseg.cli.options import shape as _shape  # noqa: E402
from hanseg.cli.options import spacing as _spacing  # noqa: E402


@dataclass(frozen=True)
class Geometry:
    name: str
    ct_shape: tuple[int, int, int]
    fov_mm: float
    slice_mm: float
    mr_shape: tuple[int, int, int]
    mr_spacing: tuple[float, float, float]

    def describe(self) -> str:
        ct = "x".join(map(str, self.ct_shape))
        mr = "x".join(map(str, self.mr_shape))
        pixel = self.fov_mm / self.ct_shape[0]
        return (
            f"{self.name}: CT {ct} at {pixel:.4g} x {pixel:.4g} x {self.slice_mm:g} mm ({self.fov_mm:g} mm FoV), "
            f"MR {mr} at {' x '.join(f'{s:g}' for s in self.mr_spacing)} mm"
        )


#: The real data (Table 1 of the paper, and case_01's header): 512 x 512 or 1024 x 1024 CTs of 116-323 slices at
#: 0.51-1.56 mm pixels and 2-3 mm slices; 512 x 512 MRs of 40-152 slices at 0.47-0.82 mm pixels and 3-5 mm slices.
PRESETS = {
    # case_01, the largest in-plane matrix: 1024 x 1024 x 202 at 0.5576 mm (571 mm FoV), 2 mm slices; its MR
    # 512 x 512 x 83 (spacing not published: mid-range values).
    "largest": Geometry("largest", (1024, 1024, 202), 571.0, 2.0, (512, 512, 83), (0.55, 0.55, 3.0)),
    # a typical case: 512 x 512 x 150 at about 1 mm (500 mm FoV), 2.5 mm slices; MR 512 x 512 x 80.
    "median": Geometry("median", (512, 512, 150), 500.0, 2.5, (512, 512, 80), (0.6, 0.6, 3.0)),
    # a small geometry for trying the benchmark out (seconds, not minutes).
    "tiny": Geometry("tiny", (128, 128, 40), 500.0, 8.0, (96, 96, 24), (2.5, 2.5, 9.0)),
}

CLI = "import sys; from hanseg.cli import main; sys.exit(main(sys.argv[1:]))"

NNUNET = """
import json, sys
from pathlib import Path
from hanseg.nnunet import dataset_folder_name, set_roots
from hanseg.nnunet.dataset import write_raw_dataset
from hanseg.nnunet.plan import plan_and_preprocess

if __name__ == "__main__":
    root, case, resampled, processes = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    roots = set_roots(root)
    files = {key: resampled / name for key, name in
             (("ct", "ct.nrrd"), ("mr", "mr.nrrd"), ("fov", "fov_mask.nrrd"), ("labels", "labels.nrrd"))}
    write_raw_dataset(Path(roots["nnUNet_raw"]) / dataset_folder_name(990, "HanSegBench"), {case: files}, {},
                      ["CT", "MR"])
    plan_and_preprocess(root, 990, "HanSegBench", "3d_fullres", processes=processes)
"""

#: A tiny CPU model of the benchmark's dataset: nnU-Net's own plans for the case with 4 stages of 4-32 features and a
#: patch of about 32 x 256 x 256 voxels (z, y, x), trained for one iteration. Prediction then tiles the case as a
#: model of that patch would, on the CPU.
NNUNET_TRAIN = """
import json, math, sys
from pathlib import Path
from hanseg.nnunet import dataset_folder_name
from hanseg.nnunet.plan import write_derived_plans
from hanseg.nnunet.train import train_fold

if __name__ == "__main__":
    root, threads = Path(sys.argv[1]), int(sys.argv[2])
    own = root / "preprocessed" / dataset_folder_name(990, "HanSegBench") / "nnUNetPlans.json"
    strides = json.loads(own.read_text())["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]["strides"]
    down = [math.prod(s[axis] for s in strides[:4]) for axis in range(3)]
    patch = [d * math.ceil(t / d) for t, d in zip((32, 256, 256), down)]
    overrides = {"name": "nnUNetPlans_bench", "features_per_stage": [4, 8, 16, 32], "patch_size": patch,
                 "batch_size": 1}
    plans = write_derived_plans(own, "3d_fullres", overrides, own.parent / "nnUNetPlans_bench.json")
    train_fold(root, 990, "HanSegBench", "3d_fullres", "all", plans_file=plans, trainer="HanSegTrainerNoDAAdam",
               device="cpu", threads=threads, epochs=1, iterations_per_epoch=1, val_iterations_per_epoch=1,
               save_every=1)
"""

#: Prediction of the central `slices` slices of the case's grid (0: all), whole in-plane: on a CPU the whole grid
#: of a real-size case takes tens of minutes; time and memory grow with the voxels (docs/costs.md, "Prediction memory").
NNUNET_PREDICT = """
import sys
from pathlib import Path
import SimpleITK as sitk
from hanseg.nnunet import model_folder
from hanseg.nnunet.predict import Predictor

if __name__ == "__main__":
    root, resampled, out = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    threads, slices = int(sys.argv[4]), int(sys.argv[5])
    model = model_folder(root, 990, "HanSegBench", "3d_fullres", trainer="HanSegTrainerNoDAAdam",
                         plans="nnUNetPlans_bench")
    images = [sitk.ReadImage(str(resampled / name)) for name in ("ct.nrrd", "mr.nrrd")]
    depth = images[0].GetSize()[2]
    if 0 < slices < depth:
        size, start = [*images[0].GetSize()[:2], slices], [0, 0, (depth - slices) // 2]
        images = [sitk.RegionOfInterest(image, size, start) for image in images]
    Predictor(model, ["all"], device="cpu", threads=threads).predict_case(images, out)
"""

#: The per-case figures as their rules draw them: 1 (CT and registered MR), 3 (organs in 3D), 4 (reference and
#: prediction over the CT).
FIGURES = """
import sys
from pathlib import Path
import SimpleITK as sitk
from hanseg.core.images import read_image
from hanseg.reporting.figures.images import figure1, figure4
from hanseg.reporting.figures.surface import figure3

if __name__ == "__main__":
    work, case = Path(sys.argv[1]), sys.argv[2]
    out = work / "figures"
    out.mkdir(exist_ok=True)
    figure1(read_image(work / "ct_clipped.nrrd"), read_image(work / "registration/mr_in_ct.nrrd"),
            out / "figure1.png", fov_mask=read_image(work / "registration/fov_mask.nrrd", "mask"), case=case)
    labels = read_image(work / "resampled/labels.nrrd", "labels")
    figure3(sitk.GetArrayViewFromImage(labels), labels.GetSpacing(), out / "figure3.png", case=case)
    figure4(read_image(work / "resampled/ct.nrrd"), labels, read_image(work / "prediction.nrrd", "labels"),
            out / "figure4.png", case=case)
"""


def _geometry(text: str) -> Geometry:
    if text in PRESETS:
        return PRESETS[text]
    try:
        name, ct, fov, slice_mm, mr, mr_spacing = text.split(":")
        return Geometry(name, _shape(ct), float(fov), float(slice_mm), _shape(mr), _spacing(mr_spacing))
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise argparse.ArgumentTypeError(
            f"expected one of {sorted(PRESETS)} or NAME:CT:FOV_MM:SLICE_MM:MR:MR_SPACING, got {text!r} ({error})"
        ) from error


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree_rss(pid: int) -> int:
    """Bytes resident in `pid` and all its descendants now."""
    tree, total, todo = _children(), 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * page
        except OSError:
            pass
        todo.extend(tree.get(current, []))
    return total


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_stage(command: list[str], output: Path, *, env: dict, log: Path, mem_limit: float) -> dict:
    """Run one stage's process; measure it as the docstring says."""
    peak, killed, done = [0], [False], threading.Event()
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        def sample() -> None:
            while not done.is_set():
                rss = _tree_rss(process.pid)
                peak[0] = max(peak[0], rss)
                if rss > mem_limit and not killed[0]:
                    killed[0] = True
                    os.killpg(process.pid, 9)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_gb": max(peak[0], usage.ru_maxrss * 1024) / 2**30,
        "disk_mb": _folder_bytes(output) / 1e6,
        "status": "killed (memory)"
        if killed[0]
        else ("ok" if process.returncode == 0 else f"exit {process.returncode}"),
    }


def _stand_in_prediction(labels: Path, out: Path) -> None:
    """The case's label map moved by one voxel in x: a prediction with realistic surfaces, made outside the timing."""
    import numpy as np
    import SimpleITK as sitk

    image = sitk.ReadImage(str(labels))
    moved = sitk.GetImageFromArray(np.roll(sitk.GetArrayViewFromImage(image), 1, axis=2))
    moved.CopyInformation(image)
    sitk.WriteImage(moved, str(out), useCompression=True)


#: Stages whose output no later stage reads: one killed (by --mem-limit-gb) does not skip the rest.
OPTIONAL_STAGES = ("nnU-Net predict",)


#: A phase of a stage as its log times it (hanseg.core.timing.Stopwatch): "registration: initialisation 1.2 s".
PHASE = re.compile(r"INFO [\w.]+: (?:registration|resample): (.+?) ([\d.]+) s$", re.MULTILINE)


def phases(log: Path) -> str:
    """Where a stage's seconds went, from its log."""
    found = PHASE.findall(log.read_text()) if log.is_file() else []
    return "; ".join(f"{name} {float(seconds):.0f} s" for name, seconds in found)


def bench_geometry(
    geometry: Geometry,
    work: Path,
    *,
    threads: int,
    mem_limit: float,
    seed: int,
    predict_slices: int,
    until: str | None = None,
    parameter_files: list[str] | None = None,
) -> list[dict]:
    case = "case_01"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "workflow" / "scripts"), os.environ.get("PYTHONPATH", "")])
    )
    env.update(OMP_NUM_THREADS=str(threads), ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=str(threads))
    python = [sys.executable, "-c", CLI]
    data, truth = work / "phantom" / "HaN-Seg", work / "phantom" / "truth" / case
    folder = data / "set_1" / case
    ct = lambda name: str(folder / f"{case}_IMG_{name}.nrrd")  # noqa: E731
    stages = [
        (
            "phantom (setup)",
            [*python, "phantom", str(work / "phantom"), "--cases", "1", "--seed", str(seed)]
            + ["--shape", "x".join(map(str, geometry.ct_shape)), "--fov-mm", str(geometry.fov_mm)]
            + ["--slice-mm", str(geometry.slice_mm), "--mr-shape", "x".join(map(str, geometry.mr_shape))]
            + ["--mr-spacing", "x".join(map(str, geometry.mr_spacing))],
            work / "phantom" / "HaN-Seg",
        ),
        ("inventory", [*python, "inventory", str(data), "--out-dir", str(work / "inventory")], work / "inventory"),
        ("clip", [*python, "clip-ct", ct("CT"), "--out", str(work / "ct_clipped.nrrd")], work / "ct_clipped.nrrd"),
        (
            "register",
            [*python, "register", "--ct", str(work / "ct_clipped.nrrd"), "--mr", ct("MR_T1")]
            + ["--out-dir", str(work / "registration"), "--threads", str(threads), "--case", case]
            + ["--landmarks-ct", str(truth / "landmarks_ct.csv"), "--landmarks-mr", str(truth / "landmarks_mr.csv")]
            + (["--params", *parameter_files] if parameter_files else []),
            work / "registration",
        ),
        (
            "resample",
            [*python, "resample", "--ct", str(work / "ct_clipped.nrrd")]
            + ["--mr", str(work / "registration/mr_in_ct.nrrd"), "--fov", str(work / "registration/fov_mask.nrrd")]
            + ["--case-dir", str(folder), "--out-dir", str(work / "resampled"), "--case", case],
            work / "resampled",
        ),
        (
            "nnunet convert+preprocess",
            [sys.executable, "-c", NNUNET, str(work / "nnunet"), case, str(work / "resampled"), str(threads)],
            work / "nnunet",
        ),
        (
            "nnU-Net train (setup)",
            [sys.executable, "-c", NNUNET_TRAIN, str(work / "nnunet"), str(threads)],
            work / "nnunet" / "results",
        ),
        (
            "nnU-Net predict",
            [sys.executable, "-c", NNUNET_PREDICT, str(work / "nnunet"), str(work / "resampled")]
            + [str(work / "nnunet_prediction.nrrd"), str(threads), str(predict_slices)],
            work / "nnunet_prediction.nrrd",
        ),
        ("figures 1, 3, 4", [sys.executable, "-c", FIGURES, str(work), case], work / "figures"),
        (
            "evaluate",
            [*python, "evaluate", "--ref", str(work / "resampled/labels.nrrd"), "--pred", str(work / "prediction.nrrd")]
            + ["--fov-mask", str(work / "resampled/fov_mask.nrrd"), "--case", case, "--out", str(work / "eval.tsv")],
            work / "eval.tsv",
        ),
    ]
    if until is not None:
        stages = stages[: [name for name, _, _ in stages].index(until) + 1]
    rows, failed = [], False
    for name, command, output in stages:
        row = {"geometry": geometry.name, "stage": name}
        if failed:
            rows.append({**row, "status": "skipped"})
            continue
        if name.startswith("figures"):
            _stand_in_prediction(work / "resampled/labels.nrrd", work / "prediction.nrrd")
        log = work / f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.log"
        row.update(run_stage(command, output, env=env, log=log, mem_limit=mem_limit))
        if name == "register" and row["status"] == "ok":
            report = json.loads((work / "registration/registration.json").read_text())
            row["note"] = (
                f"TRE mean {report['tre_mm']['mean']:.2f} mm, max {report['tre_mm']['max']:.2f} mm; {phases(log)}"
            )
        if name == "resample" and row["status"] == "ok":
            size = json.loads((work / "resampled/resample.json").read_text())["size"]
            row["note"] = (
                f"grid {' x '.join(map(str, size))} ({size[0] * size[1] * size[2] / 1e6:.0f} M voxels); {phases(log)}"
            )
        if name == "nnU-Net predict" and row["status"] == "ok":
            size = json.loads((work / "resampled/resample.json").read_text())["size"]
            depth = min(predict_slices or size[2], size[2])
            voxels = size[0] * size[1] * depth
            # Per voxel only the CPU time: the memory has a fixed part (the full images read, torch, the network).
            row["note"] = (
                f"{depth} of {size[2]} slices ({voxels / 1e6:.0f} M voxels): {row['cpu_s'] / voxels * 1e6:.2f} CPU s "
                "per M voxels"
            )
        if row["status"] != "ok":
            row["note"] = f"see {log.name}: " + " | ".join(log.read_text().strip().splitlines()[-2:])[-200:]
            failed = name not in OPTIONAL_STAGES
        print(f"{geometry.name:<8} {name:<26} {row['status']:<8} {row['wall_s']:8.1f} s", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


FIELDS = ["geometry", "stage", "wall_s", "cpu_s", "peak_rss_gb", "disk_mb", "status", "note"]


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: (f"{v:.3f}" if isinstance(v, float) else v) for key, v in row.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", type=_geometry, nargs="+", default=[PRESETS["median"], PRESETS["largest"]])
    parser.add_argument("--threads", type=int, default=2, help="elastix threads and nnU-Net processes (default 2)")
    parser.add_argument("--mem-limit-gb", type=float, default=14.0, help="kill a stage whose tree passes this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--predict-slices",
        type=int,
        default=24,
        help="nnU-Net predicts the central N slices of the grid, whole in-plane (0: all; default %(default)s)",
    )
    parser.add_argument("--csv", type=Path, default=Path("bench_real_size.csv"))
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--keep", type=Path, help="keep the work folders here (disk: up to ~10 GB per geometry)")
    parser.add_argument("--until", help="stop after this stage (e.g. resample)")
    parser.add_argument("--parameter-files", nargs="+", help="elastix parameter files for the register stage")
    args = parser.parse_args(argv)

    rows: list[dict] = []
    for geometry in args.geometry:
        print(geometry.describe(), file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
            work = args.keep / geometry.name if args.keep else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            rows += bench_geometry(
                geometry,
                work,
                threads=args.threads,
                mem_limit=args.mem_limit_gb * 2**30,
                seed=args.seed,
                predict_slices=args.predict_slices,
                until=args.until,
                parameter_files=args.parameter_files,
            )
        _write_csv(args.csv, rows)  # after each geometry: a long run stopped later keeps what it measured

    print(f"{args.threads} threads; peak RSS: the stage's whole process tree; disk: the files it wrote")
    for geometry in args.geometry:
        print(geometry.describe())
    print(f"{'geometry':<9}{'stage':<27}{'wall s':>8}{'CPU s':>8}{'peak GB':>9}{'disk MB':>9}  status / note")
    for row in rows:
        if row["status"] == "skipped":
            print(f"{row['geometry']:<9}{row['stage']:<27}{'':>34}  skipped")
            continue
        print(
            f"{row['geometry']:<9}{row['stage']:<27}{row['wall_s']:>8.1f}{row['cpu_s']:>8.1f}"
            f"{row['peak_rss_gb']:>9.2f}{row['disk_mb']:>9.1f}  {row['status']} {row.get('note', '')}"
        )
    _write_csv(args.csv, rows)
    print(f"written: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

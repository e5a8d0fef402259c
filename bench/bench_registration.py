"""Benchmark registration and resampling on realistic-size phantoms.

Run on demand (not a test): ``python bench/bench_registration.py [--cases 3] [--shape 512x512x150]``.
For each case: TRE (mean, max) and seconds with the project's parameter files (hanseg/resources/elastix) and with
elastix's default rigid + B-spline maps, side by side on the same images and the same initialisation; then the peak
memory (RSS) of a `register_mr` job and of a `resample` job, each measured in a fresh process.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from hanseg.cli.options import shape as _shape  # noqa: E402
from hanseg.core.defaults import ELASTIX_PARAMETER_FILES, HU_CLIP, resolve_data_files  # noqa: E402

PROJECT = resolve_data_files(ELASTIX_PARAMETER_FILES)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _default_parameter_files(folder: Path) -> list[Path]:
    """elastix's own default rigid and B-spline maps (the 'elastix defaults' column)."""
    import itk

    from hanseg.registration.elastix import write_parameter_map

    parameters = itk.ParameterObject.New()
    files = []
    for name, parameter_map in (
        ("default_rigid.txt", parameters.GetDefaultParameterMap("rigid")),
        ("default_bspline.txt", parameters.GetDefaultParameterMap("bspline")),
    ):
        parameter_map["WriteResultImage"] = ["false"]
        write_parameter_map(dict(parameter_map), folder / name)
        files.append(folder / name)
    return files


def _register(root: str, case: str, parameter_files: list[str], work: str) -> tuple[dict, float]:
    import SimpleITK as sitk

    from hanseg.core.images import clip_intensity
    from hanseg.core.landmarks import read_landmarks
    from hanseg.jobs.registration import RegistrationFiles, write_registration
    from hanseg.registration.mr_to_ct import register

    folder = Path(root) / "HaN-Seg/set_1" / case
    ct = clip_intensity(sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd")), *HU_CLIP)
    mr = sitk.ReadImage(str(folder / f"{case}_IMG_MR_T1.nrrd"))
    truth = Path(root) / "truth" / case
    started = time.perf_counter()
    try:
        result = register(
            ct,
            mr,
            parameter_files,
            work,
            threads=2,
            case=case,
            landmarks_ct=read_landmarks(truth / "landmarks_ct.csv"),
            landmarks_mr=read_landmarks(truth / "landmarks_mr.csv"),
        )
    except Exception as error:  # a failing parameter set is a result too
        return {"error": str(error)}, _peak_mb()
    files = RegistrationFiles.in_folder(work, stages=len(result.transform_files) - 1)
    write_registration(result, files, ct, title=case)
    report = result.report
    report["wall_s"] = time.perf_counter() - started
    return report, _peak_mb()


def _resample(root: str, case: str, work: str, body_crop: bool = False) -> tuple[float, float, int]:
    import SimpleITK as sitk

    from hanseg.core import dataset_layout
    from hanseg.core.images import clip_intensity
    from hanseg.preprocessing.resampling import ResampledFiles, resample_case

    folder = Path(root) / "HaN-Seg/set_1" / case
    organs = {dataset_layout.parse_organ_file(p.name)[1]: p for p in folder.glob("*.seg.nrrd")}
    ct = clip_intensity(sitk.ReadImage(str(folder / f"{case}_IMG_CT.nrrd")), *HU_CLIP)
    started = time.perf_counter()
    summary = resample_case(
        ct,
        sitk.ReadImage(str(Path(work) / "mr_in_ct.nrrd")),
        sitk.ReadImage(str(Path(work) / "fov_mask.nrrd")),
        organs,
        ResampledFiles.in_folder(Path(work) / ("resampled_body" if body_crop else "resampled")),
        body_crop=body_crop,
    )
    return time.perf_counter() - started, _peak_mb(), int(np.prod(summary["size"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", type=_shape, default=(512, 512, 150), help="CT matrix x,y,z (MR: 512x512x60)")
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--qc-out", type=Path, default=None, help="copy case_01's QC picture here")
    args = parser.parse_args(argv)
    context = get_context("spawn")  # a fresh process per job: its peak RSS is the job's own
    from hanseg.dataset.phantom import PhantomOptions, generate

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        root = Path(tmp)
        generate(root, PhantomOptions(cases=args.cases, seed=args.seed, ct_shape=args.shape))
        defaults = _default_parameter_files(root)
        rows = []
        for index in range(1, args.cases + 1):
            case = f"case_{index:02d}"
            row = {"case": case}
            for label, files in (("project", PROJECT), ("elastix defaults", defaults)):
                work = root / "work" / label.replace(" ", "_") / case
                with context.Pool(1) as pool:
                    report, peak = pool.apply(_register, (str(root), case, [str(f) for f in files], str(work)))
                row[label] = report
                if label == "project":
                    row["register_peak_mb"] = peak
                    for crop in (False, True):
                        with context.Pool(1) as pool:
                            row[crop] = pool.apply(_resample, (str(root), case, str(work), crop))
                    if args.qc_out and index == 1:
                        shutil.copy(work / "qc.png", args.qc_out)
            rows.append(row)
            print(f"{case} done", file=sys.stderr, flush=True)

    print(f"phantom CT {'x'.join(map(str, args.shape))}, {args.cases} cases, elastix with 2 threads")
    print(f"{'case':<9}{'params':<18}{'TRE mean':>9}{'TRE max':>9}{'seconds':>9}")
    for row in rows:
        for label in ("project", "elastix defaults"):
            report = row[label]
            if "error" in report:
                print(f"{row['case']:<9}{label:<18}  failed: {report['error'][:70]}")
            else:
                tre = report["tre_mm"]
                print(f"{row['case']:<9}{label:<18}{tre['mean']:>9.2f}{tre['max']:>9.2f}{report['wall_s']:>9.1f}")
    print(f"{'case':<9}{'register peak MB':>18}{'resample s':>12}{'resample peak MB':>18}")
    for row in rows:
        print(
            f"{row['case']:<9}{row['register_peak_mb']:>18.0f}{row['resample_s']:>12.1f}{row['resample_peak_mb']:>18.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

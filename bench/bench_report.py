"""Benchmark the figures, Table 1 and the report: seconds per figure on a finished run, memory on a real-size grid.

Run on demand (not a test), from the folder holding the run's ``results/`` (after ``snakemake --configfile
config/demo.yaml`` or the .test config):

    python bench/bench_report.py                        # the run in ./results, then a 1142 x 1142 x 202 label map
    python bench/bench_report.py --results results/demo --configfile config/demo.yaml   # the demo
    python bench/bench_report.py --results /tmp/run/results --shape 600 600 150
    python bench/bench_report.py --skip-run             # only the real-size grid

Part 1 draws every figure of the report from the run's files with the package functions the rules call (into a
scratch folder; the run's own figures are not touched) and times ``snakemake --report``. Part 2 paints the 30
organs of ``bench_metrics.py`` into a HaN-Seg-sized label map (0.5 x 0.5 x 2 mm) and draws Figure 3 (marching cubes
per organ, block-averaged) and Figure 4 (with a synthetic CT and a perturbed prediction) from it, reporting seconds,
the peak of Python-tracked allocations during each call (tracemalloc; numpy's arrays are tracked) and the process's
peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from hanseg.core.defaults import TARGET_SPACING
from hanseg.reporting.figures import cohort, images, results, surface
from hanseg.reporting.provenance import provenance, write_provenance
from hanseg.reporting.table1 import table1, write_table1

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(what: str, call):
    tracemalloc.start()
    started = time.perf_counter()
    value = call()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {what:<44} {seconds:7.2f} s   peak allocations {peak / 2**20:8.0f} MB")
    return value


def bench_run(results_dir: Path, workdir: Path, configfile: Path | None, out: Path, skip_report: bool) -> None:
    split = pd.read_csv(results_dir / "split/split.tsv", sep="\t")
    cases = sorted(split["case"])
    tests = sorted(split.loc[split["role"] == "test", "case"])
    first, test = cases[0], tests[0]
    print(f"run {results_dir} ({len(cases)} cases, figure case {first}, test case {test}):")
    inventory = pd.read_csv(results_dir / "inventory/cases.tsv", sep="\t")
    _measure("Table 1", lambda: write_table1(table1(inventory, split), out / "table1.csv", out / "table1.md"))

    def read(*parts):
        return sitk.ReadImage(str(results_dir.joinpath(*parts)))

    registration = ("cases", first, "registration")
    _measure(
        "Figure 1 (CT and MR, read + draw)",
        lambda: images.figure1(
            read("cases", first, "ct_clipped.nrrd"),
            read(*registration, "mr_in_ct.nrrd"),
            out / "figure1.png",
            fov_mask=read(*registration, "fov_mask.nrrd"),
            case=first,
        ),
    )
    _measure("Figure 2 (split)", lambda: cohort.figure2(split, out / "figure2.png"))

    def figure3():
        labels = read("cases", first, "resampled", "labels.nrrd")
        surface.figure3(sitk.GetArrayViewFromImage(labels), labels.GetSpacing(), out / "figure3.png", case=first)

    _measure("Figure 3 (3D organs, read + mesh + draw)", figure3)
    _measure(
        "Figure 4 (overlays, read + draw)",
        lambda: images.figure4(
            read("cases", test, "resampled", "ct.nrrd"),
            read("cases", test, "resampled", "labels.nrrd"),
            read("predictions", f"{test}.nrrd"),
            out / "figure4.png",
            case=test,
        ),
    )
    per_case = pd.read_csv(results_dir / "evaluation/per_case.tsv", sep="\t")
    _measure("DC / HD95 box plots", lambda: results.boxplots(per_case, out / "boxplots.png"))
    vs_paper = pd.read_csv(results_dir / "evaluation/table2_vs_paper.csv", keep_default_na=False, na_values=["nan"])
    _measure("forest plot (ours vs the paper)", lambda: results.forest_plot(vs_paper, out / "forest.png"))
    entries = [
        {
            "case": case,
            "ct": results_dir / "cases" / case / "ct_clipped.nrrd",
            "mr": results_dir / "cases" / case / "registration/mr_in_ct.nrrd",
            "fov": results_dir / "cases" / case / "registration/fov_mask.nrrd",
            "report": results_dir / "cases" / case / "registration/registration.json",
        }
        for case in cases
    ]
    _measure(f"registration montage ({len(cases)} cases)", lambda: results.registration_montage(entries, out / "m.png"))
    reports = {e["case"]: json.loads(Path(e["report"]).read_text()) for e in entries}
    _measure("TRE per case", lambda: results.tre_per_case(reports, out / "tre.png"))
    records = sorted((results_dir / "nnunet/results").rglob("hanseg_training.json"))
    _measure(
        "provenance (versions, split, budget)",
        lambda: write_provenance(provenance({}, split, records), out / "p.json", out / "p.md"),
    )
    if not skip_report:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
        command += ["--directory", str(workdir), "--report", str(out / "report.html")]
        if configfile:
            command += ["--configfile", str(configfile)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        size = (out / "report.html").stat().st_size / 2**20 if done.returncode == 0 else float("nan")
        status = "" if done.returncode == 0 else f"  FAILED: {done.stderr.strip().splitlines()[-1]}"
        print(f"  {'snakemake --report (whole report)':<44} {seconds:7.2f} s   {size:.1f} MB{status}")


def bench_real_size(shape_xyz, spacing_xyz, out: Path, seed: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_metrics import make_case  # the 30 organs at their real sizes

    shape_zyx = tuple(shape_xyz[::-1])
    spacing_zyx = np.array(spacing_xyz[::-1], dtype=float)
    started = time.perf_counter()
    reference, prediction = make_case(shape_zyx, spacing_zyx, islands=3, seed=seed)
    print(
        f"\nreal-size grid {' x '.join(map(str, shape_xyz))} (x, y, z) at {' x '.join(map(str, spacing_xyz))} mm: "
        f"label map {reference.nbytes / 2**20:.0f} MB, {int((reference > 0).sum())} organ voxels "
        f"(painted in {time.perf_counter() - started:.1f} s)"
    )
    meshes = _measure("organ meshes (marching cubes)", lambda: surface.organ_meshes(reference, spacing_xyz))
    triangles = sum(len(faces) for _, faces in meshes.values())
    print(f"  {len(meshes)} organs, {triangles} triangles in all")
    _measure("Figure 3 (mesh + draw)", lambda: surface.figure3(reference, spacing_xyz, out / "figure3_real.png"))
    ct = np.where(reference > 0, np.int16(40), np.int16(-1000))
    images_ = [sitk.GetImageFromArray(a) for a in (ct, reference, prediction)]
    for image in images_:
        image.SetSpacing(tuple(float(s) for s in spacing_xyz))
    del ct
    _measure("Figure 4 (overlays, draw)", lambda: images.figure4(*images_, out / "figure4_real.png"))
    print(f"  process peak resident memory {_peak_rss_mb():.0f} MB (label maps, CT and figures together)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished run's results folder")
    parser.add_argument("--workdir", type=Path, default=Path.cwd(), help="the run's working directory (for --report)")
    parser.add_argument("--configfile", type=Path, help="the run's config file, e.g. config/demo.yaml (for --report)")
    parser.add_argument("--shape", type=int, nargs=3, default=(1142, 1142, 202), metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=TARGET_SPACING, metavar=("X", "Y", "Z"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-run", action="store_true", help="only the real-size grid")
    parser.add_argument("--skip-report", action="store_true", help="do not time snakemake --report")
    parser.add_argument("--keep", type=Path, help="write the figures here instead of a temporary folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        if not args.skip_run:
            if not (args.results / "split/split.tsv").is_file():
                parser.error(f"{args.results} holds no finished run (run Snakemake first, or pass --skip-run)")
            configfile = args.configfile.resolve() if args.configfile else None
            bench_run(args.results.resolve(), args.workdir.resolve(), configfile, out, args.skip_report)
        bench_real_size(tuple(args.shape), tuple(args.spacing), out, args.seed)


if __name__ == "__main__":
    main()

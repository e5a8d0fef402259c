"""The experiments demo's figures: each model and input against the others on the demo's test cases.

Run on demand (not a test), after `snakemake --configfile config/experiments_demo.yaml --cores 2`:

    python bench/bench_experiments_demo.py [--results results/experiments_demo] [--segment-case case_07]

Printed per experiment: the mean Dice over the organ-case pairs of at least 5 mL inside the MR's field of view (the
demo's criterion, docs/demo.md), how many of them were missed (Dice 0), and the left/right pairs the laterality check
found swapped; then the differences the issue asks about: the dropout model given CT alone against the CT model, and
given CT + MR against the CT + MR model. With ``--segment-case``, `hanseg segment --ct` without `--mr` segments that
test case's original CT with the dropout model (as a clinic without the MR would), and the label map is scored on the
CT's own grid against the case's original masks with the end-to-end tests' learning check
(`tests.support.chain_checks`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its tests.support

from tests.support import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "workflow" / "scripts"))

import pandas as pd  # noqa: E402

LARGE_ML = 5.0
PAIRS = {"dropout_ct vs ct": ("dropout_ct", "ct"), "dropout vs ct_mr": ("dropout", "ct_mr")}


def large_pairs(results: Path, experiment: str, voxel_ml: float) -> pd.DataFrame:
    table = pd.read_csv(results / f"experiments/{experiment}/evaluation/per_case.tsv", sep="\t")
    scored = table[table["evaluated"].astype(str) == "True"]
    return scored[scored["ref_voxels"] * voxel_ml >= LARGE_ML]


def swapped(results: Path, experiment: str) -> list[str]:
    table = pd.read_csv(results / f"experiments/{experiment}/evaluation/laterality.tsv", sep="\t")
    hit = table[table["lr_swapped"].astype(str) == "True"]
    return [f"{row.case}:{row.left}" for row in hit.itertuples()]


def model_folder(results: Path, experiment: str) -> Path:
    records = results.glob("experiments/*/nnunet/results/Dataset*/*__*__*/hanseg_model.json")
    (record,) = [r for r in records if json.loads(r.read_text())["experiment"] == experiment]
    return record.parent


def segment_ct_alone(results: Path, case: str) -> None:
    from hanseg.core import dataset_layout
    from hanseg.evaluation.case_files import evaluate_files
    from hanseg.evaluation.laterality import check_laterality
    from tests.support.chain_checks import chain_problems

    folder = results / f"data/HaN-Seg/set_1/{case}"
    ct = folder / dataset_layout.ct_name(case)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / f"{case}.nrrd"
        command = [sys.executable, "-m", "hanseg.cli", "segment", "--ct", str(ct), "--device", "cpu"]
        command += ["--model", str(model_folder(results, "dropout")), "--out", str(out), "--threads", "2"]
        env = {**os.environ, "PYTHONPATH": str(REPO / "workflow/scripts")}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
        fov = results / f"cases/{case}/registration/fov_mask.nrrd"
        scores = pd.DataFrame(evaluate_files(folder, out, fov, case=case, resolve_overlaps=True))
        import SimpleITK as sitk

        sides = check_laterality(sitk.ReadImage(str(out)), case=case)
    ct_voxel_ml = _voxel_ml(ct)
    large = scores[(scores["evaluated"].astype(str) == "True") & (scores["ref_voxels"] * ct_voxel_ml >= LARGE_ML)]
    problems = chain_problems(scores, sides, min_voxels=int(LARGE_ML / ct_voxel_ml))
    print(
        f"\nhanseg segment --ct (no --mr), dropout model, {case} on its CT's grid: mean Dice {large['dc'].mean():.3f} "
        f"over {len(large)} organs >= {LARGE_ML:g} mL, {int((large['dc'] == 0).sum())} missed; learning check: "
        + ("accepted" if not problems else "; ".join(problems))
    )


def _voxel_ml(path: Path) -> float:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    x, y, z = reader.GetSpacing()
    return x * y * z / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results/experiments_demo")
    parser.add_argument("--segment-case", help="a test case to segment from its CT alone with the dropout model")
    args = parser.parse_args()
    results = args.results
    experiments = [p.name for p in sorted((results / "experiments").iterdir()) if (p / "evaluation").is_dir()]
    import yaml

    config = yaml.safe_load((REPO / "config/experiments_demo.yaml").read_text())
    spacing = config["preprocessing"]["target_spacing"]
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    means = {}
    print(f"| experiment | organ-case pairs >= {LARGE_ML:g} mL | mean Dice | missed | left/right swapped |")
    print("|---|---:|---:|---:|---|")
    for name in experiments:
        large = large_pairs(results, name, voxel_ml)
        means[name] = large["dc"].mean()
        print(
            f"| {name} | {len(large)} | {means[name]:.3f} | {int((large['dc'] == 0).sum())} | "
            f"{', '.join(swapped(results, name)) or 'none'} |"
        )
    for label, (a, b) in PAIRS.items():
        if a in means and b in means:
            print(f"{label}: {100 * (means[a] - means[b]):+.1f} Dice points")
    if args.segment_case:
        segment_ct_alone(results, args.segment_case)


if __name__ == "__main__":
    main()

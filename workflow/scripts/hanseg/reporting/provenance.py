"""Provenance of a run for the report: the config, software versions, the split and the training budget.

Versions come from the package metadata of the environment the rule runs in (importlib.metadata), so a package that
env lacks (e.g. nnunetv2 in the figures env) reads "not installed here" instead of failing; the training records
(``hanseg_training.json`` beside each fold's checkpoint) say on which device and with which budget the model was
actually trained, so a reader can tell a demo run from a paper run. Those records and the registration reports also
name the nnunetv2, torch, CUDA and itk-elastix versions that did the work, in the envs that did it; they take
precedence over what the figures env happens to hold. The registration reports also give every case's registration
QC verdict (pass/warn/fail and the measure's value), listed with the cases the split excluded for a failed QC
(``registration.on_fail: exclude``) and why.
"""

from __future__ import annotations

import json
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from hanseg import __version__
from hanseg.core import dataset_layout
from hanseg.core.atomic import write_text_atomic
from hanseg.dataset.splits import excluded_cases, exclusion_note
from hanseg.nnunet import MODEL_RECORD
from hanseg.registration.qc_verdict import case_of_report, qc_rows

PACKAGES = (
    "snakemake",
    "nnunetv2",
    "torch",
    "itk-elastix",
    "SimpleITK",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "scikit-image",
)
NOT_INSTALLED = "not installed here"
PAPER_BUDGET = {"epochs": 1000, "iterations_per_epoch": 250}


def versions(packages=PACKAGES) -> dict[str, str]:
    """Installed version of each package, or :data:`NOT_INSTALLED`; this workflow's own version is the package's
    (the rules import it from the checkout, where no distribution metadata exists)."""
    found = {"python": platform.python_version(), "hanseg-workflow": __version__}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = NOT_INSTALLED
    return found


def cuda_version() -> str | None:
    """The CUDA version PyTorch was built with (its ``torch/version.py``), None without PyTorch or for a CPU build.

    Read from the file rather than by importing torch, which the figures env does not hold and need not load.
    """
    try:
        version_file = Path(str(metadata.distribution("torch").locate_file("torch/version.py")))
    except metadata.PackageNotFoundError:
        return None
    if not version_file.is_file():
        return None
    found = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", version_file.read_text(), re.M)
    return found.group(1) if found else None


def versions_that_ran(records: list[dict]) -> dict[str, str]:
    """The ``versions`` the training records and registration reports carry; differing ones joined by ', '."""
    seen: dict[str, list[str]] = {}
    for record in records:
        for name, version in (record.get("versions") or {}).items():
            if version is not None and str(version) not in seen.setdefault(name, []):
                seen[name].append(str(version))
    return {name: ", ".join(found) for name, found in seen.items() if found}


def budget_kind(config: dict, trainings: list[dict]) -> str:
    """'paper' when the real data were trained with the paper's budget, else 'demo / reduced'."""
    nnunet = config.get("nnunet", {})
    budgets = trainings or [nnunet]
    paper_budget = all(all(t.get(k) == v for k, v in PAPER_BUDGET.items()) for t in budgets)
    real_data = config.get("dataset", {}).get("source") != "phantom"
    return "paper budget on real data" if paper_budget and real_data else "demo / reduced (not the paper's run)"


def provenance(
    config: dict,
    split: pd.DataFrame,
    training_records: list[Path | str],
    known_versions: dict[str, str] | None = None,
    registration_reports: Mapping[str, Path | str] | Sequence[Path | str] = (),
    experiments: list[str] | None = None,
    decisions: Sequence[Path | str] = (),
) -> dict:
    """Everything the provenance page shows; `known_versions` (e.g. the Snakemake that ran the workflow, which a
    rule's conda env does not hold) and the versions the training records and registration reports name take
    precedence over what this env has installed. `experiments` names the experiment of each training record.
    `registration_reports` maps each case to its report, or lists reports in the workflow's layout (the case is
    the folder above ``registration/``). `decisions` are the cross-validated models' post-processing decisions
    (``postprocessing.json`` in each model folder)."""
    names = experiments or [""] * len(training_records)
    trainings = [
        {"experiment": name, **json.loads(Path(p).read_text())}
        for name, p in zip(names, training_records, strict=True)
        if Path(p).is_file()
    ]
    named = (
        registration_reports.items()
        if isinstance(registration_reports, Mapping)
        else [(case_of_report(p), p) for p in registration_reports]
    )
    registrations = [(case, json.loads(Path(p).read_text())) for case, p in named]
    ran = versions_that_ran(trainings + [report for _, report in registrations])
    qc = qc_rows(dict(registrations))
    record = {
        "run": budget_kind(config, trainings),
        "data_source": config.get("dataset", {}).get("source"),
        "versions": versions() | ran | dict(known_versions or {}),
        "platform": f"{platform.system()} {platform.machine()}, Python {sys.version.split()[0]}",
        "split": {
            "method": config.get("split", {}).get("method"),
            "counts": {str(k): int(v) for k, v in split["role"].value_counts().sort_index().items()},
            "test_cases": sorted(split.loc[split["role"] == "test", "case"]),
            "excluded": excluded_cases(split),
        },
        "registration_qc": {
            "on_fail": config.get("registration", {}).get("on_fail", "error"),
            "counts": {status: sum(row["status"] == status for row in qc) for status in ("pass", "warn", "fail")},
            "cases": qc,
        },
        "training": {
            "configured": {
                k: config.get("nnunet", {}).get(k)
                for k in ("epochs", "iterations_per_epoch", "device", "trainer", "plans_overrides")
            },
            "experiments": config.get("experiments", {}),
            "folds": trainings,
            "postprocessing": [decision_summary(Path(p)) for p in decisions],
        },
        "config": config,
    }
    if any(str(t.get("device", "")).startswith("cuda") for t in trainings) and "cuda (torch build)" not in ran:
        # A training record from before versions were recorded: this env's torch is the best guess.
        record["versions"]["cuda (torch build)"] = cuda_version() or NOT_INSTALLED
    return record


def decision_summary(path: Path) -> dict:
    """A model's post-processing decision as provenance shows it: the model, its experiment, what keeps only its
    largest connected component (an organ, or "all organs together": nnU-Net's step over every foreground label)."""
    names = {label: organ for organ, label in dataset_layout.LABEL_IDS.items()}
    record = path.with_name(MODEL_RECORD)
    experiment = json.loads(record.read_text()).get("experiment") if record.is_file() else None
    kept = []
    # The run's own decision, checked where it was applied (hanseg.nnunet.decision_file, which needs torch's env).
    for kwargs in json.loads(path.read_text())["postprocessing_kwargs"]:
        step = kwargs["labels_or_regions"]
        labels = step if isinstance(step, list) else [step]
        kept.append(names[labels[0]] if len(labels) == 1 else "all organs together")
    return {"model": path.parent.name, "experiment": experiment, "largest_component_of": kept}


def to_markdown(record: dict) -> str:
    lines = [f"# Provenance: {record['run']}", "", f"Data source: {record['data_source']}. {record['platform']}.", ""]
    lines += ["## Software versions", "", "| package | version |", "|---|---|"]
    lines += [f"| {name} | {version} |" for name, version in record["versions"].items()]
    split = record["split"]
    counts = ", ".join(f"{role} {n}" for role, n in split["counts"].items())
    lines += ["", "## Split", "", f"Method {split['method']}: {counts}. Test cases: {', '.join(split['test_cases'])}."]
    excluded = split.get("excluded") or {}
    if excluded:
        lines += ["", exclusion_note(excluded)]
    lines += _registration_qc_lines(record.get("registration_qc"), excluded)
    lines += ["", "## Training budget", ""]
    configured = record["training"]["configured"]
    lines.append(
        f"Configured: {configured['epochs']} epochs x {configured['iterations_per_epoch']} iterations per epoch on "
        f"{configured['device']} (the paper: 1000 x 250 on a GPU)."
    )
    overrides = configured.get("plans_overrides")
    lines.append(
        f"Plans: {overrides['name']}, derived from nnU-Net's own plans with {overrides} (a CPU-sized network, not "
        "the paper's)."
        if overrides
        else "Plans: nnU-Net's own (nnUNetPlans), as the paper."
    )
    experiments = record["training"].get("experiments") or {}
    if experiments:
        lines += ["", "| experiment | channels | description |", "|---|---|---|"]
        lines += [
            f"| {name} | {', '.join(e.get('channels', []))} | {e.get('description', '')} |"
            for name, e in experiments.items()
        ]
    lines += [
        "",
        "| experiment | fold | trainer | plans | configuration | device | epochs | iterations per epoch | "
        "seconds (last run) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in record["training"]["folds"]:
        lines.append(
            f"| {t.get('experiment', '')} | {t.get('fold')} | {t.get('trainer')} | {t.get('plans', 'nnUNetPlans')} | "
            f"{t.get('configuration', '')} | {t.get('device')} | {t.get('epochs')} | "
            f"{t.get('iterations_per_epoch')} | {t.get('seconds_this_run')} |"
        )
    decisions = record["training"].get("postprocessing") or []
    if decisions:
        lines += ["", "## Post-processing", ""]
        lines.append(
            "nnU-Net's decision from the cross-validation (keep only the largest connected component where that "
            "improved the folds' Dice), applied to the predictions of every experiment with postprocessing on:"
        )
        lines.append("")
        for d in decisions:
            kept = ", ".join(d["largest_component_of"]) or "nothing (no step improved the cross-validation)"
            lines.append(f"- {d['experiment'] or d['model']} ({d['model']}): largest component of {kept}")
    lines += ["", "## Config", "", "```yaml", yaml.safe_dump(record["config"], sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def _value(row: dict) -> str:
    if row["value"] is None:
        return "n/a" if row["measure"] else ""
    return f"{row['value']:.3g}" + (f" {row['unit']}" if row["unit"] else "")


def _threshold(value) -> str:
    return "" if value is None else f"{value:g}"


def _registration_qc_lines(qc: dict | None, excluded: dict[str, str]) -> list[str]:
    """Every case's registration QC verdict and value, and which cases a failed verdict excluded."""
    if not qc or not qc["cases"]:
        return []
    counts = ", ".join(f"{status} {n}" for status, n in qc["counts"].items())
    outcome = (
        f"excluded: {', '.join(excluded)}"
        if excluded
        else ("no case excluded" if qc["on_fail"] == "exclude" else "a fail stops the run")
    )
    lines = ["", "## Registration QC", "", f"{counts}; registration.on_fail: {qc['on_fail']} ({outcome}).", ""]
    lines += ["| case | status | measure | value | warn from | fail from |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {row['case']} | {row['status']} | {row['measure'] or 'not recorded'} | {_value(row)} | "
        f"{_threshold(row['warn'])} | {_threshold(row['fail'])} |"
        for row in qc["cases"]
    ]
    return lines


def write_provenance(record: dict, json_path: Path | str, md_path: Path | str) -> None:
    write_text_atomic(json_path, json.dumps(record, indent=1, default=str) + "\n")
    write_text_atomic(md_path, to_markdown(record))

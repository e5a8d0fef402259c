import sys
import zipfile
from pathlib import Path

from snakemake.utils import validate

# The rules' scripts import the package from next to them; the Snakefile needs it for input functions too.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from hanseg import layout  # noqa: E402

validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config["results_dir"].rstrip("/")
DATASET = config["dataset"]
SOURCE = DATASET["source"]
# Set 1 of the public archive holds case_01..case_42 (dataset facts); listing them here lets a dry run show the
# whole DAG before anything is downloaded.
PUBLIC_SET1_CASES = [layout.case_id(i) for i in range(1, 43)]


def local_path():
    path = DATASET["local_path"]
    if not path:
        raise ValueError(
            "dataset.local_path must be set when dataset.source is 'local'"
        )
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"dataset.local_path: {path} does not exist")
    return path


def local_is_zip():
    return SOURCE == "local" and local_path().is_file()


def cases_in_local_source():
    path = local_path()
    if path.is_file():
        with zipfile.ZipFile(path) as archive:
            parts = [Path(name).parts for name in archive.namelist()]
        names = {
            p[i + 1]
            for p in parts
            for i in range(len(p) - 1)
            if p[i] == layout.TRAIN_SET
        }
        found = sorted(
            (n for n in names if layout.is_case_id(n)), key=lambda c: int(c[5:])
        )
    else:
        root = layout.find_data_root(path)
        if root is None:
            raise ValueError(
                f"dataset.local_path: no {layout.TRAIN_SET}/ folder under {path}"
            )
        found = layout.list_cases(root)
    if not found:
        raise ValueError(f"dataset.local_path: no case_NN folders in {path}")
    return found


def configured_cases():
    if DATASET["cases"]:
        return list(DATASET["cases"])
    if SOURCE == "zenodo":
        return PUBLIC_SET1_CASES
    if SOURCE == "phantom":
        return [layout.case_id(i) for i in range(1, DATASET["phantom"]["cases"] + 1)]
    return cases_in_local_source()


CASES = configured_cases()


wildcard_constraints:
    case="|".join(CASES),


def archive_path():
    """The zip that extract_archive unpacks (none for a local extracted folder)."""
    if SOURCE == "zenodo":
        return f"{RESULTS}/downloads/{layout.ARCHIVE_NAME}"
    if SOURCE == "phantom":
        return f"{RESULTS}/phantom/{layout.ARCHIVE_NAME}"
    return str(local_path())


MANIFEST = f"{RESULTS}/data/manifest.json"


def case_record(wildcards):
    return f"{RESULTS}/inventory/cases/{wildcards.case}.json"


def all_targets():
    return [
        f"{RESULTS}/inventory/cases.tsv",
        f"{RESULTS}/inventory/organs.tsv",
        *expand(f"{RESULTS}/cases/{{case}}/ct_clipped.nrrd", case=CASES),
        *expand(f"{RESULTS}/cases/{{case}}/resampled/labels.nrrd", case=CASES),
    ]


def elastix_parameter_files():
    """Configured parameter files: relative to the working directory if there, else to the workflow."""
    resolved = []
    for name in config["registration"]["parameter_files"]:
        path = Path(name)
        if not path.is_absolute() and not path.exists():
            path = Path(workflow.basedir) / name
        if not path.exists():
            raise ValueError(f"registration.parameter_files: {name} not found")
        resolved.append(str(path))
    return resolved


def landmarks_root():
    if config["registration"]["landmarks_dir"]:
        return config["registration"]["landmarks_dir"]
    if SOURCE == "phantom":
        return f"{RESULTS}/phantom/truth"
    return None


def registration_inputs(wildcards):
    inputs = {
        "ct": f"{RESULTS}/cases/{wildcards.case}/ct_clipped.nrrd",
        "record": case_record(wildcards),
        "parameter_files": elastix_parameter_files(),
    }
    if landmarks_root():
        inputs["landmarks"] = landmarks_root()
    return inputs


def registration_dir(wildcards):
    return f"{RESULTS}/cases/{wildcards.case}/registration"

"""The configuration's defaults, written once: in the config schema shipped with the package.

``resources/config.schema.yaml`` gives every config key a default, the paper's run. The workflow validates its config
against that file (Snakemake's ``validate`` fills the defaults in), and the command line and the package's functions
take theirs from here, so each of the paper's constants (the Zenodo archive's address, size and SHA-256, the
0.5 x 0.5 x 2 mm grid, the HU range, the 20 % field-of-view rule, the HD percentile) and every other default is
written in exactly one place.

Files shipped with the package (the schema, the elastix parameter files in ``resources/elastix/``, the paper's Table 2)
live in ``resources/``, so a non-editable ``pip install`` has them too. A configured parameter file written
``hanseg:<name>`` is the shipped ``resources/<name>`` (:func:`resolve_data_files`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hanseg.core.errors import InputError

#: The package's resources folder (inside the checkout, or inside site-packages after ``pip install .``).
DATA_DIR = Path(__file__).resolve().parents[1] / "resources"
SCHEMA_FILE = DATA_DIR / "config.schema.yaml"
#: A configured file named ``hanseg:<name>`` is ``DATA_DIR / <name>``.
PACKAGED_PREFIX = "hanseg:"


@functools.cache
def schema() -> dict:
    """The config's JSON schema (draft 2020-12), as Snakemake's ``validate`` reads it."""
    import yaml  # only here: the rest of the package can be imported without PyYAML

    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def default(key: str) -> Any:
    """The schema's default of a dotted config key, e.g. ``default("evaluation.hd_percentile")`` (a copy)."""
    node = schema()
    for part in key.split("."):
        properties = node.get("properties", {})
        if part not in properties:
            raise KeyError(f"{key}: not a key of {SCHEMA_FILE.name}")
        node = properties[part]
    if "default" not in node:
        raise KeyError(f"{key}: {SCHEMA_FILE.name} gives it no default")
    return copy.deepcopy(node["default"])


def choices(key: str) -> tuple:
    """The values the schema allows for a dotted config key (its ``enum``), e.g. ``choices("nnunet.device")``."""
    node = schema()
    for part in key.split("."):
        node = node.get("properties", {}).get(part)
        if node is None:
            raise KeyError(f"{key}: not a key of {SCHEMA_FILE.name}")
    if "enum" not in node:
        raise KeyError(f"{key}: {SCHEMA_FILE.name} gives it no list of values")
    return tuple(node["enum"])


def _tuple_or_none(value: Sequence | None) -> tuple | None:
    return None if value is None else tuple(value)


# The defaults the command line and the package's functions use (the workflow reads the same ones from its config).
ZENODO_URL: str = default("dataset.url")
ZENODO_SHA256: str = default("dataset.sha256")
ZENODO_SIZE: int = default("dataset.size")
DOWNLOAD_RETRIES: int = default("dataset.download_retries")
PHANTOM_CASES: int = default("dataset.phantom.cases")
PHANTOM_SEED: int = default("dataset.phantom.seed")
PHANTOM_SHAPE: tuple[int, int, int] = tuple(default("dataset.phantom.shape"))
PHANTOM_FOV_MM: float | None = default("dataset.phantom.fov_mm")
PHANTOM_SLICE_MM: float | None = default("dataset.phantom.slice_mm")
PHANTOM_MR_SHAPE: tuple[int, int, int] | None = _tuple_or_none(default("dataset.phantom.mr_shape"))
PHANTOM_MR_SPACING: tuple[float, float, float] | None = _tuple_or_none(default("dataset.phantom.mr_spacing"))
#: CT values are clipped to [lower, upper] HU.
HU_CLIP: tuple[float, float] = tuple(float(v) for v in default("preprocessing.hu_clip"))
#: The resampling grid, x, y, z in mm.
TARGET_SPACING: tuple[float, float, float] = tuple(float(v) for v in default("preprocessing.target_spacing"))
BODY_CROP: bool = default("preprocessing.body_crop")
ELASTIX_PARAMETER_FILES: tuple[str, ...] = tuple(default("registration.parameter_files"))
REGISTRATION_INITIALISATION: str = default("registration.initialisation")
SPLIT_TEST_FRACTION: float = float(default("split.test_fraction"))
SPLIT_FOLDS: int = default("split.folds")
SPLIT_SEED: int = default("split.seed")
SPLIT_STRATIFY: tuple[str, ...] = tuple(default("split.stratify"))
NNUNET_DEVICE: str = default("nnunet.device")
NNUNET_DEVICES: tuple[str, ...] = choices("nnunet.device")
NNUNET_EPOCHS: int = default("nnunet.epochs")
NNUNET_ITERATIONS_PER_EPOCH: int = default("nnunet.iterations_per_epoch")
NNUNET_VAL_ITERATIONS_PER_EPOCH: int = default("nnunet.val_iterations_per_epoch")
NNUNET_CHECKPOINT_EVERY: int = default("nnunet.checkpoint_every")
#: How a prediction gets from the model's grid onto the CT's (hanseg.preprocessing.backmap).
BACKMAP: str = default("segment.backmap")
BACKMAP_METHODS: tuple[str, ...] = choices("segment.backmap")
#: The paper's rule: an organ is evaluated when strictly more than this fraction of it lies in the MR's FoV.
MIN_FOV_FRACTION: float = float(default("evaluation.min_volume_fraction"))
HD_PERCENTILE: float = float(default("evaluation.hd_percentile"))
BOOTSTRAP_RESAMPLES: int = default("evaluation.bootstrap.resamples")
BOOTSTRAP_SEED: int = default("evaluation.bootstrap.seed")
BOOTSTRAP_CONFIDENCE: float = float(default("evaluation.bootstrap.confidence"))
BOOTSTRAP_MIN_CASES: int = default("evaluation.bootstrap.min_cases")


def resolve_data_files(
    names: Iterable[str | Path], *, search: Sequence[Path | str] = (), what: str = "parameter file"
) -> list[Path]:
    """Paths of configured files: ``hanseg:<name>`` is the packaged ``data/<name>``; an absolute path is itself; a
    relative one is looked up in the working directory, then in each folder of `search` (the workflow's folder).

    A file not found is an :class:`InputError` naming it and where it was looked for.
    """
    resolved = []
    for name in names:
        text = str(name)
        if text.startswith(PACKAGED_PREFIX):
            candidates = [DATA_DIR / text.removeprefix(PACKAGED_PREFIX)]
        elif Path(text).expanduser().is_absolute():
            candidates = [Path(text).expanduser()]
        else:
            candidates = [Path(text), *(Path(folder) / text for folder in search)]
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            looked = ", ".join(str(path.absolute()) for path in candidates)
            raise InputError(f"{what} {text}: not found (looked for {looked})")
        resolved.append(found)
    return resolved

"""A model folder from elsewhere is untrusted input: what `hanseg segment` checks before it loads or builds anything.

A model folder holds three things that choose code, not only numbers:

- **Checkpoints are pickles**: unpickling may call any function the file names. :func:`load_checkpoint` loads with
  PyTorch's restricted unpickler (``weights_only=True``), which builds tensors and plain containers only, plus the
  few numpy types nnU-Net's checkpoints hold in their training log and best EMA Dice (:data:`NUMPY_TYPES`: the
  numeric dtypes and the scalar built from a dtype and its raw bytes; neither calls anything). The training side
  (resuming from `checkpoint_latest.pth`) keeps nnU-Net's own loading: those files are the run's own.
- **Plans name classes by dotted path**, which nnU-Net imports and calls (`get_network_from_plans`, `pydoc.locate`).
  :func:`check_plans` allows a network class of nnU-Net's architecture package (`dynamic_network_architectures`) and
  layer classes of `torch.nn` only, and the preprocessing names nnU-Net ships (:data:`NNUNET_NAMES`), checked by
  name before anything is imported; :func:`check_network_classes` then confirms, by importing only inside those
  packages, that the name is a network class defined there. Sizes are bounded (:data:`PLAN_LIMITS`).
- The record's elastix text: :mod:`hanseg.registration.parameter_text`.

nnU-Net's post-processing decision names functions too: :mod:`hanseg.nnunet.decision_file` allows only its
largest-component one.

Every refusal is a :class:`ModelError` naming the file and what was refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from hanseg.core.errors import InputError

#: A checkpoint larger than this is refused before reading (nnU-Net's largest preset, ResEnc XL, is under 2 GB with its
#: optimizer state).
MAX_CHECKPOINT_BYTES = 16 * 2**30
#: A JSON file of a model folder larger than this is refused before reading (plans are about 10 kB).
MAX_JSON_BYTES = 4 * 2**20
NETWORK_PACKAGE = "dynamic_network_architectures."
LAYER_PACKAGE = "torch.nn."
#: Arguments of the network that nnU-Net imports by name (`_kw_requires_import`); nnU-Net's planners use these four.
IMPORTED_ARGUMENTS = ("conv_op", "norm_op", "dropout_op", "nonlin")
#: Other names in plans that nnU-Net resolves to classes or functions of its own packages.
NNUNET_NAMES = {
    "preprocessor_name": {"DefaultPreprocessor"},
    "normalization_schemes": {
        "CTNormalization",
        "ZScoreNormalization",
        "NoNormalization",
        "RescaleTo01Normalization",
        "RGBTo01Normalization",
    },
    "resampling_fn_data": {"resample_data_or_seg_to_shape", "resample_data_or_seg_to_spacing"},
    "resampling_fn_seg": {"resample_data_or_seg_to_shape", "resample_data_or_seg_to_spacing"},
    "resampling_fn_probabilities": {"resample_data_or_seg_to_shape", "resample_data_or_seg_to_spacing"},
}
TOP_LEVEL_NAMES = {
    "image_reader_writer": {"SimpleITKIO", "SimpleITKIOWithReorient", "NibabelIO", "NibabelIOWithReorient"},
    "label_manager": {"LabelManager"},
}
#: Bounds on the sizes in plans (nnU-Net's largest published presets stay far below them).
PLAN_LIMITS = {"patch_voxels": 2**24, "patch_edge": 1024, "batch_size": 256, "n_stages": 12, "features": 4096}
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


class ModelError(InputError, ValueError):
    """A model folder that cannot be used or is refused; the message names the folder or its file."""


def _refuse(path: Path | str, what: str) -> ModelError:
    return ModelError(f"{path}: refused: {what}; use a model folder from a source you trust, copied whole")


def check_size(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        raise _refuse(path, f"{size} bytes, more than the {limit} a model folder's file may have")


def _check_dotted(path: Path, name: object, package: str, what: str, *, optional: bool = False) -> None:
    if name is None and optional:
        return
    if not isinstance(name, str) or not DOTTED.fullmatch(name) or not name.startswith(package):
        raise _refuse(path, f"{what} {name!r} is not a class of {package.rstrip('.')}")


def _positive_ints(values: object, limit: int) -> bool:
    flat = values if isinstance(values, list) else [values]
    flat = [v for item in flat for v in (item if isinstance(item, list) else [item])]
    return all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= limit for v in flat)


def check_plans(plans: Mapping, path: Path) -> None:
    """nnU-Net plans that name only nnU-Net's own code, with bounded sizes; ModelError otherwise."""
    configurations = plans.get("configurations")
    if not isinstance(configurations, Mapping) or not configurations or len(configurations) > 32:
        raise _refuse(path, "no configurations (or more than 32)")
    for key, allowed in TOP_LEVEL_NAMES.items():
        if key in plans and plans[key] not in allowed:
            raise _refuse(path, f"{key} {plans[key]!r} is not one of nnU-Net's {sorted(allowed)}")
    for name, configuration in configurations.items():
        if not isinstance(configuration, Mapping):
            raise _refuse(path, f"configuration {name!r} is not an object")
        _check_configuration(configuration, f"configuration {name}", path)


def _check_configuration(configuration: Mapping, where: str, path: Path) -> None:
    for key, allowed in NNUNET_NAMES.items():
        values = configuration.get(key)
        for value in values if isinstance(values, list) else [values]:
            if value is not None and value not in allowed:
                raise _refuse(path, f"{where}: {key} {value!r} is not one of nnU-Net's {sorted(allowed)}")
    limits = PLAN_LIMITS
    patch = configuration.get("patch_size")
    if patch is not None:
        voxels = 1
        for edge in patch if isinstance(patch, list) else []:
            voxels *= edge if isinstance(edge, int) else 0
        if not _positive_ints(patch, limits["patch_edge"]) or not 0 < voxels <= limits["patch_voxels"]:
            raise _refuse(path, f"{where}: patch_size {patch} out of bounds")
    if "batch_size" in configuration and not _positive_ints(configuration["batch_size"], limits["batch_size"]):
        raise _refuse(path, f"{where}: batch_size {configuration['batch_size']} out of bounds")
    architecture = configuration.get("architecture")
    if architecture is not None:
        _check_architecture(architecture, where, path)


def _check_architecture(architecture: object, where: str, path: Path) -> None:
    if not isinstance(architecture, Mapping) or not isinstance(architecture.get("arch_kwargs", {}), Mapping):
        raise _refuse(path, f"{where}: architecture is not an object")
    _check_dotted(path, architecture.get("network_class_name"), NETWORK_PACKAGE, "network class")
    arguments = architecture.get("arch_kwargs", {})
    imported = architecture.get("_kw_requires_import", [])
    if not isinstance(imported, list) or any(key not in IMPORTED_ARGUMENTS for key in imported):
        raise _refuse(path, f"{where}: _kw_requires_import {imported} (only {', '.join(IMPORTED_ARGUMENTS)})")
    for key in imported:
        _check_dotted(path, arguments.get(key), LAYER_PACKAGE, key, optional=True)  # dropout_op may be null
    if "n_stages" in arguments and not _positive_ints(arguments["n_stages"], PLAN_LIMITS["n_stages"]):
        raise _refuse(path, f"{where}: n_stages {arguments['n_stages']} out of bounds")
    if "features_per_stage" in arguments and not _positive_ints(
        arguments["features_per_stage"], PLAN_LIMITS["features"]
    ):
        raise _refuse(path, f"{where}: features_per_stage {arguments['features_per_stage']} out of bounds")


def resolve_class(name: str, path: Path, package: str):
    """The class `name` names, imported only from inside `package` (checked by name in :func:`check_plans`), and
    only if it is a torch module class defined in that package: an attribute reached through an imported module
    (``...unet.torch.load``) is refused."""
    import importlib

    import torch

    module_name, _, class_name = name.rpartition(".")
    inside = (package, package.rstrip("."))
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise _refuse(path, f"{name}: no module {module_name} in {package.rstrip('.')}") from None
    found = getattr(module, class_name, None)
    if not (
        isinstance(found, type)
        and issubclass(found, torch.nn.Module)
        and (module.__name__ in inside or module.__name__.startswith(package))
        and found.__module__.startswith(package)
    ):
        raise _refuse(path, f"{name} is not a network or layer class of {package.rstrip('.')}")
    return found


def check_network_classes(plans: Mapping, configuration: str, path: Path) -> None:
    """The classes the configuration's architecture names resolve inside nnU-Net's architecture package and torch.nn
    (after :func:`check_plans`; nnU-Net then imports the same names)."""
    configurations = plans["configurations"]
    architecture, name = None, configuration
    for _ in configurations:  # an inheritance chain is at most as long as the list (a cycle ends here too)
        if architecture is not None or name not in configurations:
            break
        architecture = configurations[name].get("architecture")
        name = configurations[name].get("inherits_from")
    if architecture is None:
        raise _refuse(path, f"configuration {configuration!r} has no architecture")
    resolve_class(architecture["network_class_name"], path, NETWORK_PACKAGE)
    for key in architecture.get("_kw_requires_import", []):
        if architecture["arch_kwargs"].get(key) is not None:
            resolve_class(architecture["arch_kwargs"][key], path, LAYER_PACKAGE)


def numpy_types() -> list:
    """What nnU-Net's checkpoints hold besides tensors and containers: numpy scalars (its training log and best EMA
    Dice are numpy floats), pickled as the numeric dtype plus the raw bytes; no object dtype."""
    import numpy as np

    kinds = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
    kinds += (np.float16, np.float32, np.float64)
    return [np._core.multiarray.scalar, np.dtype, *(type(np.dtype(kind)) for kind in kinds)]


def load_checkpoint(path: Path) -> dict:
    """An nnU-Net checkpoint loaded without running code (see the module docstring); ModelError naming the file
    when it asks for anything else, is not a checkpoint, or lacks what prediction needs."""
    import pickle

    import torch

    check_size(path, MAX_CHECKPOINT_BYTES)
    try:
        with torch.serialization.safe_globals(numpy_types()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        asked = re.findall(r"GLOBAL ([\w.]+)", str(error)) or re.findall(r"got <class '([\w.]+)'>", str(error))
        raise _refuse(
            path,
            f"the checkpoint asks to unpickle {asked[0] if asked else 'an object'} besides tensors (a checkpoint is a "
            "pickle, and that can run code)",
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        raise ModelError(f"{path}: cannot read it as a PyTorch checkpoint (truncated or another file?)") from error
    _check_checkpoint(checkpoint, path)
    return checkpoint


def _check_checkpoint(checkpoint: object, path: Path) -> None:
    import torch

    if not isinstance(checkpoint, Mapping):
        raise _refuse(path, "not an nnU-Net checkpoint (no dictionary)")
    weights = checkpoint.get("network_weights")
    if not isinstance(weights, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise _refuse(path, "network_weights is not a dictionary of tensors")
    if not isinstance(checkpoint.get("trainer_name"), str):
        raise _refuse(path, "no trainer_name")
    init_args = checkpoint.get("init_args")
    if not isinstance(init_args, Mapping) or not isinstance(init_args.get("configuration"), str):
        raise _refuse(path, "no init_args.configuration")
    axes = checkpoint.get("inference_allowed_mirroring_axes")
    if axes is not None and not (
        isinstance(axes, list | tuple) and all(isinstance(a, int) and 0 <= a <= 2 for a in axes)
    ):
        raise _refuse(path, f"inference_allowed_mirroring_axes {axes!r} (axes 0 to 2 only)")


def check_weights(network, weights: Mapping, path: Path) -> None:
    """The checkpoint's tensors are exactly the network's parameters and buffers, shape for shape."""
    expected = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    given = {key: tuple(value.shape) for key, value in weights.items()}
    if given != expected:
        different = sorted(set(given) ^ set(expected)) or [k for k in expected if given[k] != expected[k]]
        raise _refuse(path, f"its weights do not fit the network the plans describe (first: {different[0]})")

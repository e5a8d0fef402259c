"""nnU-Net's post-processing decision as a model folder holds it (`postprocessing.json`), read as untrusted input.

nnU-Net writes the decision twice: as pickled functions (`postprocessing.pkl`) and as JSON naming them. Unpickling
runs code, so only the JSON is read, and it may name nothing but nnU-Net's largest-component function on organ
labels. Reading it needs neither torch nor nnU-Net (provenance reads it in the figures env).
"""

from __future__ import annotations

import json
from pathlib import Path

from hanseg.core import dataset_layout
from hanseg.nnunet.model_checks import MAX_JSON_BYTES, ModelError, check_size

#: In a model folder: nnU-Net's post-processing decision (its JSON), and the one function it may name.
DECISION_FILE = "postprocessing.json"
LARGEST_COMPONENT = "remove_all_but_largest_component_from_segmentation"


def read_decision(path: Path | str) -> list:
    """nnU-Net's post-processing decision in a model folder (`postprocessing.json`): its steps, each the organ label,
    or the list of labels, whose largest connected component alone is kept. Only nnU-Net's largest-component function
    on organ labels is allowed (nnU-Net's `postprocessing.pkl` beside it is never read: unpickling runs code);
    ModelError naming the file otherwise."""
    path = Path(path)
    check_size(path, MAX_JSON_BYTES)
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: cannot read it as JSON ({error}); copy the model folder again") from error
    return parse_decision(value, path)


def parse_decision(value: object, path: Path) -> list:
    labels = set(dataset_layout.LABEL_IDS.values())

    def is_label(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v in labels

    functions = value.get("postprocessing_fns") if isinstance(value, dict) else None
    arguments = value.get("postprocessing_kwargs") if isinstance(value, dict) else None
    if not isinstance(functions, list) or not isinstance(arguments, list) or len(functions) != len(arguments):
        raise ModelError(f"{path}: not nnU-Net's postprocessing.json (postprocessing_fns, postprocessing_kwargs)")
    steps = []
    for function, kwargs in zip(functions, arguments, strict=True):
        step = kwargs.get("labels_or_regions") if isinstance(kwargs, dict) and len(kwargs) == 1 else None
        plain = is_label(step) or (isinstance(step, list) and step and all(is_label(v) for v in step))
        if function != LARGEST_COMPONENT or not plain:
            raise ModelError(
                f"{path}: post-processing step {function!r} {kwargs!r} refused: only {LARGEST_COMPONENT} on organ "
                "labels is applied"
            )
        steps.append(step)
    return steps

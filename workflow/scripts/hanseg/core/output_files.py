"""Sets of output files: a package function that writes several files is given one path per file.

A rule hands over its declared outputs (:meth:`OutputFiles.of`, matched by name: the rule's output ``ct=`` is the
field ``ct``); the command line, which writes into a folder, takes the names of :attr:`OutputFiles.NAMES`
(:meth:`OutputFiles.in_folder`), the one place where they are spelled. No function invents a file name of its own.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class OutputFiles:
    """Base of the output sets: fields are paths (None: an optional output not written)."""

    #: Field -> file name in a folder, for :meth:`in_folder`; the workflow declares the same names.
    NAMES: ClassVar[dict[str, str]] = {}

    def __post_init__(self):
        for field in fields(self):  # a rule passes strings
            value = getattr(self, field.name)
            if value is not None:
                object.__setattr__(self, field.name, Path(value))

    @classmethod
    def in_folder(cls, folder: Path | str):
        """Every output under its usual name in `folder` (the command line's convenience)."""
        return cls(**{name: Path(folder) / file_name for name, file_name in cls.NAMES.items()})

    @classmethod
    def of(cls, outputs: Any):
        """From a rule's named outputs (``snakemake.output``): each field from the output of the same name."""
        declared = set(outputs.keys())
        missing = [f.name for f in fields(cls) if f.name not in declared and f.default is MISSING]
        if missing:
            raise ValueError(f"the rule declares no output named {', '.join(missing)} (needed by {cls.__name__})")
        return cls(**{f.name: getattr(outputs, f.name) for f in fields(cls) if f.name in declared})

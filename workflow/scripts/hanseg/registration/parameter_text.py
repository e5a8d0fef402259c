"""elastix parameter text from outside the workflow (a model folder's record), checked before elastix reads it.

elastix's parameter files choose more than numbers: file names to read (an initial transform), files to write (the
result image, per-iteration reports, transform files each iteration) and where. The text a model folder carries
was written by whoever trained the model, so it is data to check, not a file to hand over: every line must be a
comment, blank, or `(Name value ...)` with a Name that the workflow's own parameter files use
(:data:`hanseg.core.defaults.DATA_DIR` ``elastix/*.txt``), the Write... switches off, no value that names a path, and
the counts that set elastix's run time within :data:`LIMITS`.
"""

from __future__ import annotations

import functools
import re

from hanseg.core.defaults import DATA_DIR
from hanseg.core.errors import InputError

#: At most this much text per parameter file (the workflow's own are about 2 kB).
MAX_TEXT_CHARACTERS = 64_000
#: Upper bounds of the values that set elastix's run time and memory (each value of the parameter, every resolution).
LIMITS = {
    "MaximumNumberOfIterations": 20_000,
    "NumberOfSpatialSamples": 1_000_000,
    "NumberOfResolutions": 8,
    "NumberOfHistogramBins": 1024,
    "MaximumNumberOfSamplingAttempts": 100,
}
#: Parameters that make elastix write files: allowed only as "false".
SWITCHES_OFF = ("WriteResultImage", "WriteIterationInfo")
LINE = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9]*)((?:\s+(?:\"[^\"\n]*\"|[-+0-9.eE]+))*)\s*\)")
TOKEN = re.compile(r"\"([^\"\n]*)\"|([-+0-9.eE]+)")


class ParameterTextError(InputError, ValueError):
    """elastix parameter text that the workflow will not hand to elastix; the message names the source."""


@functools.cache
def allowed_names() -> frozenset[str]:
    """The parameter names the workflow's own elastix files use."""
    names = set()
    for path in sorted((DATA_DIR / "elastix").glob("*.txt")):
        names.update(name for name, _ in parameters(path.read_text(), str(path)))
    return frozenset(names)


def parameters(text: str, source: str) -> list[tuple[str, list[str]]]:
    """The `(Name value ...)` lines of elastix parameter text; ParameterTextError for any other non-comment line."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        match = LINE.fullmatch(line)
        if match is None:
            raise ParameterTextError(f"{source}: line {number} is not an elastix parameter: {raw.strip()[:80]!r}")
        values = [quoted if quoted else bare for quoted, bare in TOKEN.findall(match.group(2))]
        found.append((match.group(1), values))
    return found


def check_parameter_text(text: str, source: str) -> None:
    """ParameterTextError naming `source` and the first thing refused, else nothing."""
    if len(text) > MAX_TEXT_CHARACTERS:
        raise ParameterTextError(f"{source}: {len(text)} characters, more than {MAX_TEXT_CHARACTERS} of elastix text")
    allowed = allowed_names()
    for name, values in parameters(text, source):
        if name not in allowed:
            raise ParameterTextError(
                f"{source}: parameter {name} refused: only the parameters of the workflow's own elastix files are "
                "taken from a model folder"
            )
        if name in SWITCHES_OFF and values != ["false"]:
            raise ParameterTextError(f"{source}: ({name} {' '.join(values)}) refused: elastix writes no files here")
        for value in values:
            if "/" in value or "\\" in value:
                raise ParameterTextError(f"{source}: {name} value {value!r} refused: no paths in parameter text")
        limit = LIMITS.get(name)
        if limit is not None and any(_number(v) > limit for v in values):
            raise ParameterTextError(f"{source}: {name} {' '.join(values)} refused: at most {limit}")


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return float("inf")

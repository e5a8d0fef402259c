"""The config checked against its schema with one line per problem, before Snakemake's own validation.

Snakemake's ``validate`` reports a bad config with the whole schema dumped (a typo'd key printed 187 lines, the
useful one buried). This check runs first and says, for each problem, which key, where in the config and, for an
unknown key, the closest valid one: ``nnunet.epoch: unknown key (did you mean nnunet.epochs?)``. Snakemake's
``validate`` still runs after it and fills in the schema's defaults.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from hanseg.core.defaults import schema


def _dotted(path) -> str:
    return ".".join(str(part) for part in path) or "the config"


def _unknown_keys(error) -> list[str]:
    """One line per key an ``additionalProperties: false`` object does not know, with the closest known key."""
    known = list(error.schema.get("properties", {}))
    where = _dotted(error.absolute_path)
    prefix = "" if where == "the config" else f"{where}."
    lines = []
    for key in sorted(set(error.instance) - set(known)):
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (known: {', '.join(known)})"
        lines.append(f"{prefix}{key}: unknown key{hint}")
    return lines


def config_problems(config: Mapping) -> list[str]:
    """Every problem of `config` against the schema, one line each (empty: the config is valid)."""
    import jsonschema  # Snakemake's own dependency: only the Snakefile calls this

    validator = jsonschema.Draft202012Validator(schema())
    lines = []
    for error in validator.iter_errors(dict(config)):
        if error.validator == "additionalProperties":
            lines += _unknown_keys(error)
        else:
            lines.append(f"{_dotted(error.absolute_path)}: {error.message}")
    return sorted(lines)

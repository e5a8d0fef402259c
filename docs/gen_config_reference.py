"""The configuration reference, rendered from the config schema (its one source).

Used two ways:

- as an MkDocs hook (``hooks:`` in ``mkdocs.yml``): the marker ``<!-- hanseg:config-reference -->`` in
  ``configuration.md`` is replaced by the rendered reference when the site is built;
- from the command line, ``python docs/gen_config_reference.py``, which prints the same Markdown.

Every key of ``workflow/scripts/hanseg/resources/config.schema.yaml`` gets its dotted name, type, default, allowed
values and description. Nothing here restates a key: a key added to the schema appears on the next build.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SCHEMA = Path(__file__).resolve().parents[1] / "workflow/scripts/hanseg/resources/config.schema.yaml"
MARKER = "<!-- hanseg:config-reference -->"
#: Stands for a name the user chooses (the keys of ``experiments``).
NAME = "<name>"


def load_schema(path: Path = SCHEMA) -> dict:
    return yaml.safe_load(path.read_text())


def walk(schema: dict, prefix: str = ""):
    """Yield (dotted key, its schema) for every key, depth first, in the schema's order."""
    for name, sub in (schema.get("properties") or {}).items():
        key = f"{prefix}{name}"
        yield key, sub
        yield from walk(sub, f"{key}.")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        key = f"{prefix}{NAME}"
        yield key, extra
        yield from walk(extra, f"{key}.")


def _inline(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def type_of(schema: dict) -> str:
    if "enum" in schema:
        return "choice"
    kinds = schema.get("type")
    if kinds is None:
        return "any"
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    words = []
    for kind in kinds:
        if kind == "array" and isinstance(schema.get("items"), dict):
            words.append(f"array of {type_of(schema['items'])}")
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            words.append("mapping of name to object")
        else:
            words.append(kind)
    return " or ".join(words)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def allowed_of(schema: dict) -> str:
    parts = []
    if "enum" in schema:
        parts.append(", ".join(f"`{v}`" for v in schema["enum"]))
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if "enum" in items:
        parts.append("each of " + ", ".join(f"`{v}`" for v in items["enum"]))
    for source, scope in ((schema, ""), (items, "each ")):
        for word, sign in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        ):
            if word in source:
                parts.append(f"{scope}{sign} {source[word]}")
        if "pattern" in source:
            parts.append(f"{scope}matches `{source['pattern']}`")
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None and low == high:
        parts.append(f"exactly {_count(low, 'item')}")
    else:
        if low is not None:
            parts.append(f"at least {_count(low, 'item')}")
        if high is not None:
            parts.append(f"at most {_count(high, 'item')}")
    if schema.get("uniqueItems"):
        parts.append("no repeats")
    if "minProperties" in schema:
        parts.append(f"at least {_count(schema['minProperties'], 'entry', 'entries')}")
    if isinstance(schema.get("propertyNames"), dict) and "pattern" in schema["propertyNames"]:
        parts.append(f"names match `{schema['propertyNames']['pattern']}`")
    return "; ".join(parts) or "—"


def description_of(schema: dict, key: str) -> str:
    """The schema's description; a QC threshold without one says which threshold it is."""
    if "description" in schema:
        return schema["description"]
    name, check = key.rpartition(".")[2], key.rpartition(".")[0]
    if name in ("warn", "fail"):
        return f"Threshold above which `{check}` gives {name}."
    if name == NAME:
        return "One entry, under a name you choose."
    return ""


def default_of(schema: dict, key: str, required: bool) -> str:
    if "default" in schema:
        return f"`{_inline(schema['default'])}`"
    return "required" if required else "—"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(schema: dict | None = None) -> str:
    """The reference as Markdown: one section per top-level key, one table row per key."""
    schema = load_schema() if schema is None else schema
    lines = [
        "Generated from `workflow/scripts/hanseg/resources/config.schema.yaml` when the site is built. "
        f"`{NAME}` stands for a name you choose. A default of `{{}}` means the group's keys take their own defaults.",
        "",
    ]
    parents = {"": schema}
    parents.update(dict(walk(schema)))
    for top, top_schema in (schema.get("properties") or {}).items():
        lines += [f"### `{top}`", "", "| key | type | default | allowed | description |", "|---|---|---|---|---|"]
        rows = [(top, top_schema)] + list(walk(top_schema, f"{top}."))
        for key, sub in rows:
            parent = parents.get(key.rpartition(".")[0], schema)
            required = key.rpartition(".")[2] in (parent.get("required") or [])
            lines.append(
                f"| `{key}` | {type_of(sub)} | {default_of(sub, key, required)} | {_cell(allowed_of(sub))} "
                f"| {_cell(description_of(sub, key))} |"
            )
        lines.append("")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    """MkDocs hook: put the reference where the page has the marker."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown


if __name__ == "__main__":
    print(render())

"""The README is a front door and the manual holds together: length, links, the generated configuration reference,
no project history in the README, and (where MkDocs is installed) a strict build of the site."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

README = REPO / "README.md"
DOCS = REPO / "docs"
SCHEMA = REPO / "workflow/scripts/hanseg/resources/config.schema.yaml"

#: A Markdown link or image: [text](target) or ![alt](target); the target up to a space or the closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: Words that narrate how the project was made instead of saying what it does.
HISTORY = ("before this change", "earlier version", "the issue", "agreed design", "no gpu was lent")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_reference", DOCS / "gen_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("**/*.md"))]


def _without_code(text: str) -> str:
    """The text outside fenced code blocks and inline code: links there are examples, not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _schema_keys(schema: dict, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, walked here independently of the generator."""
    keys = []
    for name, sub in (schema.get("properties") or {}).items():
        keys.append(prefix + name)
        keys += _schema_keys(sub, f"{prefix}{name}.")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        keys += _schema_keys(extra, f"{prefix}<name>.")
    return keys


def test_readme_is_short_with_the_quickstart_first():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; at most 250 (move detail into docs/)"
    headings = [i for i, line in enumerate(lines, 1) if line.strip() == "## Quickstart"]
    assert headings and headings[0] <= 40, "README.md: '## Quickstart' must be within the first 40 lines"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_point_to_existing_files(page: Path):
    missing = []
    for target in LINK.findall(_without_code(page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a web address, mail address or an anchor on the same page
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(REPO)}: links to missing files: {missing}"


def test_configuration_reference_covers_every_schema_key():
    schema = yaml.safe_load(SCHEMA.read_text())
    text = _generator().render(schema)
    keys = _schema_keys(schema)
    assert len(keys) > 50  # the walk found the schema's keys, not an empty mapping
    missing = [key for key in keys if f"`{key}`" not in text]
    assert not missing, f"the generated configuration reference lacks: {missing}"
    assert _generator().MARKER in (DOCS / "configuration.md").read_text(), "configuration.md lost its marker"


def test_readme_does_not_narrate_history():
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(README.read_text().split()))
    found = [s for s in sentences if any(word in s.lower() for word in HISTORY)]
    assert not found, f"README.md narrates the project's history: {found}"


def test_site_builds_strictly(tmp_path: Path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's end-of-life notice
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site/configuration/index.html").read_text()
    assert "dataset.phantom.mr_spacing" in page  # the reference was generated into the page

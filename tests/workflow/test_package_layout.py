"""The package's shape (README, Layout): stage subpackages under a small top level, each saying which stage it is,
functions short enough to read, and the layers import-linter checks (pyproject.toml, ``[tool.importlinter]``)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "workflow/scripts/hanseg"
#: The longest function the package may hold, docstring included.
MAX_FUNCTION_LINES = 80
MAX_TOP_LEVEL_MODULES = 12
STAGES = ("dataset", "registration", "preprocessing", "nnunet", "evaluation", "reporting")


def long_functions(root: Path, limit: int) -> list[str]:
    """Each function (or method) under `root` longer than `limit` lines, as ``path:line name (N lines)``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_package_is_longer_than_80_lines():
    assert long_functions(PACKAGE, MAX_FUNCTION_LINES) == []


def test_the_length_check_counts_from_def_to_last_line(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    (tmp_path / "m.py").write_text(f"def short():\n    return 1\n\n\ndef long():\n{body}\n")
    assert long_functions(tmp_path, MAX_FUNCTION_LINES) == ["m.py:5 long (81 lines)"]


def test_the_top_level_is_a_few_stage_subpackages():
    entries = [p for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()]
    assert len(entries) <= MAX_TOP_LEVEL_MODULES, sorted(p.name for p in entries)
    assert {p.name for p in entries if p.is_dir()} >= {*STAGES, "core", "jobs", "cli"}


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_subpackage_says_which_stage_it_is_and_what_it_takes_and_gives(stage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text(encoding="utf-8")))
    assert docstring and docstring.startswith("Stage "), stage
    assert "takes" in docstring and "gives" in docstring, stage


def test_the_package_root_imports_nothing():
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    assert not [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]


def test_the_import_contracts_hold():
    """Layers cli > jobs > stages in DAG order > core, no cycle, no plotting below reporting (import-linter)."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    result = subprocess.run([command, "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]

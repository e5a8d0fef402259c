"""No module of the package reaches into another's private names (``_name``): what one module needs from another
is part of that module's public interface, so a helper's change cannot silently break a second concern."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.support import REPO

PACKAGE = REPO / "workflow/scripts/hanseg"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` names, made absolute."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(path: Path) -> list[str]:
    """Each place where the module at `path` takes a private name of another hanseg module."""
    module = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, aliases = [], {}  # aliases: local name -> hanseg module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, path.name == "__init__.py", node)
            if source.split(".")[0] != "hanseg":
                continue
            for alias in node.names:
                if source != module and _private(alias.name):
                    found.append(f"{path.name}:{node.lineno} imports {alias.name} from {source}")
                aliases[alias.asname or alias.name] = f"{source}.{alias.name}"  # may be a module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "hanseg":
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
            target = aliases.get(node.value.id)
            if target is not None and target != module:
                found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr} of {target}")
    return found


def test_no_module_takes_another_modules_private_names():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 30
    assert [line for path in modules for line in private_imports(path)] == []


def test_the_check_finds_private_imports(tmp_path, monkeypatch):
    package = tmp_path / "hanseg"
    (package / "sub").mkdir(parents=True)
    (package / "sub/user.py").write_text(
        "from .. import metrics\nfrom ..metrics import _helper, public\nfrom . import _own\n"
        "import hanseg.layout as layout\nx = metrics._inner(layout._ORGANS, public)\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert private_imports(package / "sub/user.py") == [
        "user.py:2 imports _helper from hanseg.metrics",
        "user.py:3 imports _own from hanseg.sub",
        "user.py:5 uses metrics._inner of hanseg.metrics",
        "user.py:5 uses layout._ORGANS of hanseg.layout",
    ]

"""The per-rule conda envs, as far as they can be checked without conda's channels (none reachable here).

Every rule names an env; each env is small, pinned, conda-forge, lists `python`, holds every third-party package
its rules' scripts import (followed through the `hanseg` package), and pins the versions `pyproject.toml` installs
for the tests, so that what the tests exercise is what the cluster runs.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow/rules"
SCRIPTS = REPO / "workflow/scripts"
ENVS = sorted((REPO / "workflow/envs").glob("*.yaml"))

#: conda-forge package -> the PyPI distribution pyproject.toml installs for the same code.
CONDA_TO_PYPI = {
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "simpleitk": "SimpleITK",
    "itk-elastix": "itk-elastix",
    "matplotlib-base": "matplotlib",
    "scikit-image": "scikit-image",
    "pyyaml": "PyYAML",
    "pytorch": "torch",
}
#: Imported top-level module -> the conda (or pip-in-conda) package that provides it.
MODULE_TO_PACKAGE = {
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "SimpleITK": "simpleitk",
    "itk": "itk-elastix",
    "matplotlib": "matplotlib-base",
    "mpl_toolkits": "matplotlib-base",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "torch": "pytorch",
    "nnunetv2": "nnunetv2",
    "batchgenerators": "nnunetv2",  # nnU-Net's own dependency
}


def _rules() -> dict[str, dict[str, str]]:
    """rule name -> its `conda:` and `script:` paths, read from the .smk files."""
    rules = {}
    for smk in sorted(RULES.glob("*.smk")):
        for block in re.split(r"^(?=(?:rule|checkpoint) )", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"(?:rule|checkpoint) (\w+):", block).group(1)
            found = {key: re.search(rf"^\s+{key}:\s*\n\s+\"([^\"]+)\"", block, re.M) for key in ("conda", "script")}
            rules[name] = {key: (smk.parent / m.group(1)).resolve() if m else None for key, m in found.items()}
    return rules


def _dependencies(env: Path) -> tuple[dict[str, str], dict[str, str]]:
    spec = yaml.safe_load(env.read_text())
    conda, pip = {}, {}
    for entry in spec["dependencies"]:
        if isinstance(entry, dict):
            for requirement in entry["pip"]:
                name, _, version = requirement.partition("==")
                pip[name.strip()] = version.strip()
        else:
            name, version = re.match(r"([A-Za-z0-9_.-]+)\s*=?\s*(.*)", entry).groups()
            conda[name] = version.strip()
    return conda, pip


def _third_party_imports(script: Path) -> set[str]:
    """Top-level modules a script imports, following the hanseg package (lazy imports in functions included)."""
    seen: set[Path] = set()
    found: set[str] = set()
    pending = [script]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: inside the hanseg package
                    base = path.parent
                    for _ in range(node.level - 1):
                        base = base.parent
                    parts = (node.module or "").split(".") if node.module else []
                    target = base.joinpath(*parts)
                    pending += [target.with_suffix(".py"), target / "__init__.py"]
                    pending += [target / f"{alias.name}.py" for alias in node.names]
                    pending += [(target / alias.name / "__init__.py") for alias in node.names]
                    continue
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "hanseg":
                    target = SCRIPTS.joinpath(*name.split("."))
                    pending += [target.with_suffix(".py"), target / "__init__.py"]
                else:
                    found.add(name.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"snakemake"}


def test_every_rule_has_an_env_that_exists():
    rules = _rules()
    assert len(rules) >= 15
    for name, paths in rules.items():
        assert paths["conda"] is not None, f"rule {name} has no conda: env"
        assert paths["conda"].is_file(), f"rule {name}: {paths['conda']} does not exist"
    used = {paths["conda"] for paths in rules.values()}
    assert used == {env.resolve() for env in ENVS}, "an env file no rule uses"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_is_conda_forge_pinned_and_names_python(env):
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    conda, pip = _dependencies(env)
    assert conda.get("python") == f"{sys.version_info.major}.{sys.version_info.minor}", "python, as CI tests it"
    for name, version in {**conda, **pip}.items():
        assert re.fullmatch(r"[\d.]+(=\S+)?", version), f"{env.name}: {name} is not pinned ({version!r})"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_versions_agree_with_what_pyproject_installs(env):
    conda, pip = _dependencies(env)
    for name, pinned in conda.items():
        if name in CONDA_TO_PYPI:
            installed = metadata.version(CONDA_TO_PYPI[name]).split("+")[0]
            release = pinned.split("=")[0]
            assert (installed + ".").startswith(release + "."), f"{env.name}: {name} ={pinned}, tests run {installed}"
    for name, pinned in pip.items():
        assert metadata.version(name) == pinned, f"{env.name}: {name}=={pinned}, tests run {metadata.version(name)}"


def test_each_env_holds_what_its_rules_import():
    for name, paths in _rules().items():
        if paths["script"] is None:
            continue
        conda, pip = _dependencies(paths["conda"])
        provided = set(conda) | set(pip)
        for module in sorted(_third_party_imports(paths["script"])):
            package = MODULE_TO_PACKAGE.get(module)
            assert package is not None, f"rule {name} imports {module}: map it to a conda package here"
            assert package in provided, f"rule {name} imports {module}; {paths['conda'].name} lacks {package}"


def test_nnunet_env_takes_a_cuda_pytorch():
    conda, pip = _dependencies(REPO / "workflow/envs/nnunet.yaml")
    assert conda["pytorch"].endswith("=cuda*") and "nnunetv2" in pip

"""The per-rule conda envs: conda gives Python and pip, pip installs the rule's packages at pyproject.toml's pins.

Checked everywhere (seconds): every rule names an env; each env is conda-forge, lists `python` (the version CI tests)
and `pip` and nothing else from conda; its pip packages are pinned with `==` to exactly the versions
`pyproject.toml` pins; and it holds every third-party package its rules' scripts import (followed through the
`hanseg` package, lazy imports included).

Checked where the package index answers and `HANSEG_BUILD_ENVS=1` (CI sets it): each env's pip set resolves against
PyPI alone, as `conda env create` on a cluster's login node resolves it (`pip install --dry-run`), and, installed into
a fresh virtual environment of its own, imports every module its rules use. Conda itself cannot run here (no
channels); docs/cluster.md, "Software environments", says what only a cluster can show.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

RULES = REPO / "workflow/rules"
SCRIPTS = REPO / "workflow/scripts"
ENVS = sorted((REPO / "workflow/envs").glob("*.yaml"))

#: Imported top-level module -> the PyPI distribution (as pinned in the envs) that provides it.
MODULE_TO_PACKAGE = {
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "SimpleITK": "SimpleITK",
    "itk": "itk-elastix",
    "matplotlib": "matplotlib",
    "mpl_toolkits": "matplotlib",
    "skimage": "scikit-image",
    "yaml": "PyYAML",
    "torch": "torch",
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
    """(conda package -> version spec, pip distribution -> pinned version) of an env file."""
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


def _pyproject_pins() -> dict[str, str]:
    """The `==` pins of pyproject.toml's [project] dependencies (read without tomllib: Python 3.10 has none)."""
    text = (REPO / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S).group(1)
    return dict(re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', dependencies))


def _imports(script: Path) -> tuple[set[str], set[str]]:
    """(hanseg modules, third-party modules) a script imports, following the package (lazy imports included)."""
    seen: set[Path] = set()
    third_party: set[str] = set()
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
                if node.module.split(".")[0] != "hanseg":
                    names = [node.module]  # `from a.b import c`: a.b is a module, c may be a name
            else:
                continue
            for name in names:
                if name.split(".")[0] == "hanseg":
                    target = SCRIPTS.joinpath(*name.split("."))
                    pending += [target.with_suffix(".py"), target / "__init__.py"]
                elif name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "snakemake":
                    third_party.add(name)
    modules = set()
    for path in seen:
        if path.is_relative_to(SCRIPTS / "hanseg"):
            parts = path.relative_to(SCRIPTS).with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules, third_party


def _third_party_imports(script: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(script)[1]}


def test_every_rule_has_an_env_that_exists():
    rules = _rules()
    assert len(rules) >= 15
    for name, paths in rules.items():
        assert paths["conda"] is not None, f"rule {name} has no conda: env"
        assert paths["conda"].is_file(), f"rule {name}: {paths['conda']} does not exist"
    used = {paths["conda"] for paths in rules.values()}
    assert used == {env.resolve() for env in ENVS}, "an env file no rule uses"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_conda_gives_python_and_pip_and_pip_the_pinned_packages(env):
    spec = yaml.safe_load(env.read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]
    conda, pip = _dependencies(env)
    assert conda == {"python": f"{sys.version_info.major}.{sys.version_info.minor}", "pip": "26"}, (
        f"{env.name}: conda supplies only python (as CI tests it) and pip; packages go into the pip section"
    )
    assert pip, f"{env.name}: no pip packages"
    for name, version in pip.items():
        assert re.fullmatch(r"\d+(\.\d+)+", version), f"{env.name}: {name} is not pinned with == ({version!r})"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.stem)
def test_env_pins_are_pyproject_pins(env):
    """Pinned once: every env pins what pyproject.toml pins, so the tests run what a cluster installs."""
    pins = _pyproject_pins()
    _, pip = _dependencies(env)
    for name, version in pip.items():
        assert name in pins, f"{env.name}: {name} is not pinned in pyproject.toml"
        assert version == pins[name], f"{env.name}: {name}=={version}, pyproject.toml pins {pins[name]}"


def test_the_tests_run_the_pinned_versions():
    from importlib import metadata

    for name, version in _pyproject_pins().items():
        installed = metadata.version(name).split("+")[0]  # torch's CPU build here is 2.13.0+cpu
        assert installed == version, f"{name}: pyproject.toml pins {version}, the tests run {installed}"


def test_each_env_holds_what_its_rules_import():
    for name, paths in _rules().items():
        if paths["script"] is None:
            continue
        _, pip = _dependencies(paths["conda"])
        for module in sorted(_third_party_imports(paths["script"])):
            package = MODULE_TO_PACKAGE.get(module)
            assert package is not None, f"rule {name} imports {module}: map it to a PyPI package here"
            assert package in pip, f"rule {name} imports {module}; {paths['conda'].name} lacks {package}"


def test_nnunet_env_takes_pytorch_from_pypi():
    conda, pip = _dependencies(REPO / "workflow/envs/nnunet.yaml")
    assert "pytorch" not in conda and {"torch", "nnunetv2"} <= set(pip)


# ---------------------------------------------------------------------------------------------------------
# Building the envs' pip sets (CI: HANSEG_BUILD_ENVS=1).
# ---------------------------------------------------------------------------------------------------------

BUILD = os.environ.get("HANSEG_BUILD_ENVS") == "1"
needs_build = pytest.mark.skipif(not BUILD, reason="set HANSEG_BUILD_ENVS=1 (needs PyPI; CI sets it)")


def _pypi_only_env() -> dict:
    """pip's environment with every local index, wheel folder and constraint of this machine switched off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    return env | {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _build_and_import(env: Path, work: Path) -> str | None:
    """None if `env`'s pip set resolves on PyPI and, installed on its own, imports its rules' modules; else why not."""
    _, pip = _dependencies(env)
    requirements = [f"{name}=={version}" for name, version in pip.items()]
    work.mkdir()
    # 1. Resolve as `conda env create` on a login node will: PyPI alone, this Python, no local wheels.
    report = work / "report.json"
    resolved = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + ["--index-url", "https://pypi.org/simple", *requirements],
        capture_output=True,
        text=True,
        env=_pypi_only_env(),
    )
    if resolved.returncode != 0:
        return f"{env.name} does not resolve on PyPI:\n{resolved.stderr[-3000:]}"
    found = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    for name, version in pip.items():
        if found.get(name.lower()) != version:
            return f"{env.name}: PyPI resolves {name} to {found.get(name.lower())}, not {version}"
    if "torch" in pip and not any(name.startswith("nvidia-cuda-runtime") for name in found):
        return f"{env.name}: PyPI's torch came without its CUDA libraries: {sorted(found)}"
    # 2. Install the same pins into an empty virtual environment (from this machine's own indexes: the CPU torch
    # wheel on disk) and import every module the env's rules use, lazy imports included.
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin/python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile", *requirements],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        return f"{env.name}: pip install failed:\n{install.stderr[-3000:]}"
    modules: set[str] = set()
    for paths in _rules().values():
        if paths["conda"] == env.resolve() and paths["script"] is not None:
            hanseg_modules, third_party = _imports(paths["script"])
            modules |= hanseg_modules | third_party
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    imported = subprocess.run(
        [str(python), "-s", "-c", code, *sorted(modules)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(SCRIPTS), "MPLBACKEND": "Agg", "HOME": str(work)},
    )
    if imported.returncode != 0:
        return f"{env.name}: importing its rules' modules failed:\n{imported.stderr[-3000:]}"
    return None


@needs_build
@pytest.mark.slow
def test_envs_resolve_on_pypi_and_import_their_rules_modules(tmp_path):
    """Two envs at a time: resolving waits on the network, installing on the disk and the 2 CPUs of CI."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(lambda env: _build_and_import(env, tmp_path / env.stem), ENVS) if f]
    assert not failures, "\n\n".join(failures)

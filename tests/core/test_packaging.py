"""What `pip install .` ships: every package of the service and every data file it reads.

`python -m pytest` runs from the checkout, where every package is importable whatever pyproject.toml says;
an installed `gptstore` (the README's first command) sees only what setuptools packed. A package missing
from `[tool.setuptools.packages.find]` (as `orgs` once was: `gptstore serve` failed at start) or a data
file outside `[tool.setuptools.package-data]` passes every other test and breaks a fresh install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench", "scripts", "docs", "build"}


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _service_packages() -> set[str]:
    """Every directory of the checkout holding an `__init__.py`, outside tests, benches and scripts."""
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        relative = init.parent.relative_to(ROOT)
        if relative.parts and relative.parts[0] not in NOT_SHIPPED and not relative.parts[0].startswith("."):
            found.add(".".join(relative.parts))
    return found


def test_every_package_of_the_service_is_installed():
    shipped = set(find_packages(str(ROOT), include=_config()["packages"]["find"]["include"]))
    assert _service_packages() - shipped == set()


def test_every_data_file_of_a_package_is_installed():
    globs = _config()["package-data"]
    missing = []
    for package in sorted(p for p in _service_packages() if "." not in p):
        directory = ROOT / package
        covered = {path for pattern in globs.get(package, []) for path in directory.glob(pattern)}
        for path in directory.rglob("*"):
            if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts:
                if path not in covered:
                    missing.append(str(path.relative_to(ROOT)))
    assert missing == []


def _dockerfile_copies() -> set[str]:
    """The top-level directories the Dockerfile copies into the image before `pip install .`."""
    copied = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            copied |= {w.rstrip("/").removeprefix("./") for w in words[1:-1]}
    return copied


def test_the_image_copies_every_package_it_installs():
    """`pip install .` in the image packs only what was copied: a package left out fails every service."""
    top_level = {include.rstrip("*") for include in _config()["packages"]["find"]["include"]}
    copied = _dockerfile_copies()
    if "." in copied:  # `COPY . .` (with a .dockerignore) copies them all
        return
    assert {"pyproject.toml", "README.md"} <= copied  # the project's metadata and its readme
    assert top_level - copied == set()

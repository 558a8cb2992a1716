"""authn's wheel, built from this repository, and fresh virtual environments a new project installs it in.

Nothing is downloaded: the wheel is built with this environment's setuptools, and a fresh venv gets
links to this environment's installed copies of the distributions it needs (a wheel install would
unpack the same files), so ``pip check`` vouches for the result. A pytest plugin: the session fixture
``wheel`` builds the wheel once per process.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.checkout import ROOT

STEP_TIMEOUT = 120  # seconds for one build or install step
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME_REQUIREMENTS: list[str] = PYPROJECT["project"]["dependencies"]
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]

# The repository root as a fresh clone has it: `pip wheel` builds in the source tree, and setuptools packs
# whatever an earlier build left in build/ (modules deleted since included); the copy also keeps
# concurrent test runs from building in the same build/.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".*_cache", ".hypothesis", ".dev-issuer", ".env", "__pycache__", "build", "dist", "*.egg-info",
    "db.sqlite3", "test-artifacts", ".work", ".nox", "site",
)  # fmt: skip


def run(command: list[str], **options) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to completion; fail the test with its output unless it exits 0."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False, **options)  # noqa: S603
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def pip(*args: str) -> None:
    """This virtual environment's pip (``--python`` points it at another one)."""
    run([sys.executable, "-m", "pip", "--quiet", *args])


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """authn's wheel, built from a clean copy of the repository root."""
    work = tmp_path_factory.mktemp("wheel")
    source, built = work / "source", work / "dist"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    # With this environment's setuptools: an isolated build would download it.
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(built), str(source))
    (found,) = built.glob("*.whl")
    return found


def distributions(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions ``requirements`` need, theirs included (extras and markers honoured)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    pending = [(Requirement(line), "") for line in requirements]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in found:
            found[name] = importlib.metadata.distribution(name)
        for wanted in ("", *requirement.extras):  # an extra adds its own requirements
            pending += [(Requirement(line), wanted) for line in found[name].requires or ()]
    return list(found.values())


def fresh_venv(venv: Path, requirements: list[str], wheel: Path) -> Path:
    """A new venv holding what ``requirements`` need (linked) and the wheel (installed); its python."""
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    (site_packages,) = venv.glob("lib/python*/site-packages")
    for distribution in distributions(requirements):
        tops = {Path(str(file)).parts[0] for file in distribution.files or () if not str(file).startswith("..")}
        for top in tops:
            installed = Path(str(distribution.locate_file(top)))
            if installed.exists() and not (site_packages / top).exists():
                (site_packages / top).symlink_to(installed)
    pip("--python", str(python), "install", "--no-compile", "--no-index", "--no-deps", str(wheel))
    pip("--python", str(python), "check")  # every requirement of every distribution there is satisfied
    return python


def project_env(settings_module: str, **extra: str) -> dict[str, str]:
    """The environment of a command in a new project: nothing of this repository's leaks in.

    Bytecode is written (the install compiles nothing): the first process compiles what it imports, once.
    """
    keep = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AUTH0_", "DJANGO_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**keep, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": settings_module, **extra}


@dataclass
class Project:
    """A fresh virtual environment, the wheel installed in it, and a new project made there."""

    wheel: Path
    python: Path
    directory: Path
    settings_module: str

    def manage(self, *args: str, settings: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        env = project_env(settings or self.settings_module, **extra)
        return run([str(self.python), "manage.py", *args], cwd=self.directory, env=env)

    def start_project(self, name: str) -> Path:
        """``django-admin startproject name``, in the project's directory; the package it made."""
        self.directory.mkdir(parents=True, exist_ok=True)
        run([str(self.python), "-m", "django", "startproject", name, str(self.directory)], env=project_env(""))
        return self.directory / name

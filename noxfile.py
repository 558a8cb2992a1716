"""The support matrix: ``authn``'s tests on each supported Python with a Django and a DRF release.

``nox`` (or ``make test-matrix``) runs every session, each in a fresh virtual environment:

- Python 3.11, Django 5.2 LTS, Django REST framework 3.16: the oldest of each supported;
- Python 3.12, Django 6.0, the newest Django REST framework;
- Python 3.13, Django 6.1, the newest Django REST framework.

Each installs the development requirements, then the session's Django and DRF over them, checks that
``pip check`` is clean, and runs the library's tests: all but those of the example project itself and
the browser test (``make test`` runs the whole suite on the example's own versions). Arguments after
``--`` go to pytest.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

SUPPORTED = [
    nox.param("3.11", "5.2", "3.16", id="python3.11-django5.2-drf3.16"),
    nox.param("3.12", "6.0", "", id="python3.12-django6.0"),
    nox.param("3.13", "6.1", "", id="python3.13-django6.1"),
]


@nox.session
@nox.parametrize(("python", "django", "drf"), SUPPORTED)
def tests(session: nox.Session, django: str, drf: str) -> None:
    """The library's tests on one supported Python, Django and DRF (``drf=""``: the newest release)."""
    session.install("-r", "requirements-dev.txt")
    session.install(f"django~={django}.0", f"djangorestframework~={drf}.0" if drf else "djangorestframework")
    session.run("python", "-m", "pip", "check")
    session.run(
        "python",
        "-m",
        "pytest",
        "-n",
        "auto",
        "--dist",
        "loadfile",
        "-m",
        "not example and not browser",
        *session.posargs,
    )

"""The documentation's promises a reader pastes: the deploy block works as written, in a fresh clone."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from tests.support import checkout
from tests.support.api import PUBLIC_MESSAGE
from tests.support.checkout import ROOT
from tests.support.network import free_port
from tests.support.servers import Server, wait_until_serving

pytestmark = pytest.mark.example  # the example project itself, not the library


def docs_block(page: str, heading: str) -> str:
    """The first ```sh block under ``heading`` of ``page`` (under docs/)."""
    section = ROOT.joinpath("docs", page).read_text().split(f"\n## {heading}\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, f"no sh block under {heading}"
    return found.group(1)


def fresh_clone(directory: Path) -> Path:
    """The committed and staged files of this checkout, and its .venv (as `make run` leaves it)."""
    for path in checkout.files():
        copy = directory / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)
    (directory / ".venv").symlink_to(ROOT / ".venv")
    return directory


def test_deploy_block_works_when_pasted_into_a_shell(tmp_path):
    clone, port = fresh_clone(tmp_path / "clone"), free_port()
    # A new shell: nothing else (one worker is enough to answer, and saves the machine a second start-up).
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PORT": str(port), "WEB_CONCURRENCY": "1"}
    log = tmp_path / "shell.log"
    with log.open("w") as output:
        shell = subprocess.Popen(  # noqa: S603
            ["bash", "-euo", "pipefail", "-c", docs_block("operations.md", "Deploying this repository")],  # noqa: S607
            cwd=clone,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        assert wait_until_serving(Server(f"http://127.0.0.1:{port}", shell, log), "/healthz"), log.read_text()
        public = requests.get(f"http://127.0.0.1:{port}/api/public", headers={"X-Forwarded-Proto": "https"}, timeout=5)
        assert public.json() == {"message": PUBLIC_MESSAGE}
        assert "Strict-Transport-Security" in public.headers
        redirected = requests.get(f"http://127.0.0.1:{port}/api/public", allow_redirects=False, timeout=5)
        assert redirected.status_code == 301
        assert redirected.headers["Location"].startswith("https://")
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
        shell.wait(timeout=15)
    output = log.read_text()
    assert "System check identified no issues" in output  # check --deploy: no errors, no warnings
    assert "Trusting Auth0 issuer https://dev-abc.us.auth0.com/" in output
    assert "Traceback" not in output

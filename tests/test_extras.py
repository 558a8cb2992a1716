"""authn without its optional dependencies: each extra's package is needed by its own module alone.

In a process where the packages of every extra fail to import (``sys.modules[name] = None``, as if not
installed) and Django is set up with authn and DRF only, every authn module imports but those made for an
extra's framework, and those fail naming it.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.servers import ROOT

# Each extra's packages, and the module of authn needing them (None: authn uses it only when installed).
EXTRAS = {
    "ninja": ("ninja", "authn.ninja"),
    "channels": ("channels", None),  # authn.channels is plain ASGI
    "daphne": ("daphne", None),
    "async": ("adrf", None),  # authn's DRF classes work in adrf's views unchanged
    "spectacular": ("drf_spectacular", "authn.schema"),
    "redis": ("redis", None),
    "metrics": ("prometheus_client", None),
}
# Importing it is the act of running the system checks before serving: not a library module to import here.
ACTS = {"authn.serving"}

WITHOUT_EXTRAS = """
import importlib, json, pkgutil, sys
blocked, needing = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
for name in blocked:
    sys.modules[name] = None
from django.conf import settings
settings.configure(
    INSTALLED_APPS=[
        *("django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"),
        *("django.contrib.messages", "rest_framework", "authn"),
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
import django
django.setup()
import authn
found = {}
for module in pkgutil.walk_packages(authn.__path__, "authn."):
    if module.name in set(json.loads(sys.argv[3])):
        continue
    try:
        importlib.import_module(module.name)
    except ImportError as error:
        found[module.name] = (error.name or "").partition(".")[0]
    else:
        found[module.name] = None
print(json.dumps(found))
"""


def test_every_module_but_an_extras_own_imports_without_the_extras():
    blocked = [package for package, _ in EXTRAS.values()]
    needing = [module for _, module in EXTRAS.values() if module]
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", WITHOUT_EXTRAS, json.dumps(blocked), json.dumps(needing), json.dumps(sorted(ACTS))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    failed = {module: package for module, package in found.items() if package is not None}
    assert failed == {module: package for package, module in EXTRAS.values() if module}
    assert {"authn.channels", "authn.metrics", "authn.replay", "authn.authentication"} <= found.keys()

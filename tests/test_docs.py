"""The documentation: the configuration page generated from the settings table, the README's length, and a
repository that refers to no document outside it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from authn.defaults import SETTINGS
from tests.support import checkout
from tests.support.checkout import ROOT


def settings_table_hook():
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "docs" / "hooks" / "settings_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_page_lists_every_setting_with_its_default():
    hook = settings_table_hook()
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page.count(hook.MARKER) == 1  # where each build writes the table
    table = hook.on_page_markdown(hook.MARKER)
    rows = dict(re.findall(r"^\| `(AUTH0_[A-Z0-9_]+)` \| .* \| (.*) \|$", table, re.MULTILINE))
    assert list(rows) == [entry.name for entry in SETTINGS]
    assert rows["AUTH0_LEEWAY_SECONDS"] == "`10`"
    assert rows["AUTH0_ALGORITHMS"] == '`["RS256"]`'
    assert rows["AUTH0_DOMAIN"] == "unset"
    assert rows["AUTH0_DPOP"] == '`"allowed"`'
    assert hook.MARKER not in hook.on_page_markdown(page)


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_readme_python_is_the_adopter_projects_that_the_tests_run():
    """Each line of the README's Python blocks is a line of tests/fixtures/adopter, which test_adoption serves."""
    adopter = {line.strip() for path in (ROOT / "tests" / "fixtures" / "adopter").glob("*.py")
               for line in path.read_text().splitlines()}  # fmt: skip
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert len(blocks) >= 3
    lines = {line.strip() for block in blocks for line in block.splitlines()} - {""}
    imports = {line for line in lines if line.startswith("from ")}
    assert lines - imports - adopter == set()
    for line in imports:  # an adopter file imports more names at once: each of these must exist
        module, names = re.fullmatch(r"from ([\w.]+) import (.+)", line).groups()
        assert all(hasattr(importlib.import_module(module), name.strip()) for name in names.split(",")), line


def tracked_text_files() -> list[Path]:
    return [path for path in checkout.files() if path.suffix in {".py", ".md", ".toml", ".yml", ".txt", ""}]


# What a reference to a document outside the repository looks like (spelled so that this file is no such one).
OUTSIDE = re.compile("|".join(["\\.\\./" + "shared", "contract" + "\\.md", "[Cc]ontract" + " §", "\\bbrief" + "\\b"]))


def test_no_file_refers_to_a_document_outside_the_repository():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []

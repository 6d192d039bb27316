"""README.md opens with the two commands a fresh machine runs; CI runs the lint and type checks,
then the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL)[:2]


def test_readme_opens_with_scan_then_test_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    scan, tests = _readme_commands()
    assert text.index(scan) < 200  # right under the title
    assert scan.endswith("modelscan fixtures/models")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install_and_test = tests.split("&& ", 2)[-1]  # after creating and activating the venv
    assert install_and_test in ci.splitlines()


def test_ci_runs_the_checks_before_the_tests() -> None:
    _, tests = _readme_commands()
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    install_and_test = tests.split("&& ", 2)[-1]
    checks = ["ruff check .", "ruff format --check .", "mypy"]
    assert all(check in lines for check in checks)
    assert max(lines.index(check) for check in checks) < lines.index(install_and_test)
    assert lines.index("pip install '.[test]'") < min(lines.index(check) for check in checks)

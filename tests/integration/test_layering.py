"""The import contracts in pyproject.toml bite: ``make test`` fails when the domain
imports a framework or an outer layer.

Each test copies the four packages and pyproject.toml into a temporary directory,
breaks (or leaves) the copy, and runs the project's own ``lint-imports`` on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = PROJECT / ".venv" / "bin" / "lint-imports"
PACKAGES = ("domain", "application", "infrastructure", "api")
DOMAIN_MODULE = Path("domain") / "record.py"


def contract_names() -> dict[str, str]:
    """The contracts, by type and source, as pyproject.toml names them."""
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text("utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    names = {}
    for contract in contracts:
        if contract["type"] == "layers":
            names["layers"] = contract["name"]
        elif contract["type"] == "forbidden" and contract["source_modules"] == ["domain"]:
            names["domain"] = contract["name"]
    assert set(names) == {"layers", "domain"}, contracts
    return names


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            PROJECT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(PROJECT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def append_line(path: Path, line: str) -> int:
    """Append a line to a module; its line number."""
    text = path.read_text("utf-8")
    if not text.endswith("\n"):
        text += "\n"
    text += line + "\n"
    path.write_text(text, "utf-8")
    return text.count("\n")


def test_the_untouched_copy_keeps_every_contract(copy: Path):
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in contract_names().values():
        assert f"{name} KEPT" in result.stdout
    assert "BROKEN" not in result.stdout


def test_a_domain_module_importing_a_web_framework_fails_the_lint(copy: Path):
    line = append_line(copy / DOMAIN_MODULE, "import fastapi  # noqa")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout
    names = contract_names()
    assert f"{names['domain']} BROKEN" in result.stdout
    # The copy was checked, not the project: the report points at the appended line.
    assert f"domain.record -> fastapi (l.{line})" in result.stdout


def test_a_domain_module_importing_infrastructure_fails_the_lint(copy: Path):
    line = append_line(copy / DOMAIN_MODULE, "from infrastructure import settings  # noqa")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout
    names = contract_names()
    assert f"{names['layers']} BROKEN" in result.stdout
    assert f"domain.record -> infrastructure.settings (l.{line})" in result.stdout

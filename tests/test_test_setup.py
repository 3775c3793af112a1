"""The test run's own rules: tests of the shared corpus skip, saying why, where it is absent (a fresh clone outside
this setting passes), CI (CI=true) refuses to run without it, and the README's test command fails when no test ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(tmp_path: Path, *args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PORTAL_ADF_CORPUS"] = str(tmp_path / "no-corpus-here")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_corpus_tests_skip_with_the_reason_where_it_is_absent(tmp_path: Path) -> None:
    done = _pytest(
        tmp_path, "tests/test_export_golden.py", "tests/test_validation.py::test_the_corpus_is_there", ci=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" not in done.stdout.splitlines()[-1] and "skipped" in done.stdout.splitlines()[-1]
    assert f"the shared ADF corpus is not at {tmp_path / 'no-corpus-here'}" in done.stdout


def test_ci_refuses_to_run_without_the_corpus(tmp_path: Path) -> None:
    done = _pytest(tmp_path, "tests/test_export_golden.py", ci=True)
    assert done.returncode != 0
    assert "the shared ADF corpus is not at" in done.stdout + done.stderr


def test_the_test_command_fails_when_no_test_ran() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run(
        ["bash", "scripts/test.sh", "-k", "no_test_is_named_like_this", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: no test ran" in done.stderr

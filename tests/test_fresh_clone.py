"""What a newcomer gets: the repository's files alone in an empty folder, no datasets anywhere.

The tracked files (as they are in this working tree) are copied into a temporary folder with
nothing beside them, and the tests that touch the data, the docs and the notebooks run there
with ``$SCRATCHNET_DATA`` unset and an empty user cache: they must pass, the data tests skipping
with a reason that says what is missing and how to provide it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_docs.py", "tests/test_notebooks.py", "tests/test_text.py",
         "tests/test_cli.py::test_real_datasets_load_and_verify"]  # fmt: skip


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the test copies the tracked files)")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_the_tests_pass_in_a_fresh_clone_with_nothing_beside_it(tmp_path):
    clone = tmp_path / "alone"
    for rel in tracked_files():
        if (ROOT / rel).is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, clone / rel)
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHNET_DATA"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *TESTS],
                         cwd=clone, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone"], "nothing beside the clone"
    skips = [line for line in res.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skips, "the data tests skip"
    for line in skips:
        assert "needs the real" in line and "SCRATCHNET_DATA" in line, line

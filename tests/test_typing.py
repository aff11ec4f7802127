"""The public API type-checks for its users: an agent's script passes `mypy --strict` against the
installed package (py.typed, the .pyi stubs, the TypedDicts of `ironcliw_mem.stats`), and the
typed stats catch the mistakes an untyped dict would let through."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "typing"


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[int]]:
    """Lines with an error, per script: one strict run, outside the checkout, so the package
    comes from the installed distribution and not from a source path."""
    workdir = tmp_path_factory.mktemp("mypy")
    scripts = [str(SCRIPTS / "agent_script.py"), str(SCRIPTS / "agent_mistakes.py")]
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *scripts],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr  # 2: mypy could not run at all
    assert "No module named" not in run.stderr, run.stderr
    assert "Cannot find implementation or library stub" not in run.stdout, run.stdout
    errors: dict[str, set[int]] = {}
    for match in re.finditer(r"^(.*?\.py):(\d+): error:", run.stdout, re.M):
        errors.setdefault(Path(match[1]).name, set()).add(int(match[2]))
    return errors


def test_an_agent_script_type_checks_strictly(mypy_errors: dict[str, set[int]]) -> None:
    assert mypy_errors.get("agent_script.py", set()) == set()


def test_typed_stats_catch_each_mistake(mypy_errors: dict[str, set[int]]) -> None:
    lines = (SCRIPTS / "agent_mistakes.py").read_text().splitlines()
    expected = {n for n, line in enumerate(lines, start=1) if "# error:" in line}
    assert len(expected) == 5
    assert mypy_errors.get("agent_mistakes.py", set()) == expected

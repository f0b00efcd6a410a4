"""No test can wait forever on a process it started: every ``subprocess.run`` / ``call`` / ``check_call`` /
``check_output`` in the test suite passes ``timeout=``, and every ``communicate()`` / ``wait()`` without a
positional argument passes one too (read from the source, so a new test that forgets fails here). The suite also
runs under pytest-timeout (``timeout`` in ``pyproject.toml``) as a last net: a test that still hangs fails with a
traceback of where it waits instead of stopping the run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
RUNNERS = {"run", "call", "check_call", "check_output"}


def _untimed_waits(source: str) -> list[tuple[int, str]]:
    """(line, call) of every subprocess runner or wait in ``source`` that has no timeout."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        fn, keywords = node.func, {k.arg for k in node.keywords}
        is_runner = isinstance(fn.value, ast.Name) and fn.value.id == "subprocess" and fn.attr in RUNNERS
        is_wait = fn.attr in ("communicate", "wait") and not node.args
        if (is_runner or is_wait) and "timeout" not in keywords:
            found.append((node.lineno, ast.unparse(node)[:80]))
    return found


def test_the_rule_catches_what_it_should():
    assert _untimed_waits("import subprocess\nsubprocess.run(['x'])\n")[0][0] == 2
    assert _untimed_waits("p.communicate()\np.wait()\n") == [(1, "p.communicate()"), (2, "p.wait()")]
    assert _untimed_waits("subprocess.run(['x'], timeout=5)\np.wait(timeout=1)\nevent.wait(3)\n") == []


def test_every_subprocess_a_test_starts_has_a_timeout():
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}: {call}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, call in _untimed_waits(path.read_text())
    ]
    assert not offenders, "pass timeout= (a hung child would stop the suite):\n" + "\n".join(offenders)


def test_the_suite_runs_under_a_per_test_timeout(pytestconfig: pytest.Config):
    assert float(pytestconfig.getini("timeout")) > 0  # pytest-timeout is installed and configured

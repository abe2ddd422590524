"""Run code in a fresh interpreter: for tests whose subject is what a process imports at start."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_fresh(code: str) -> str:
    """Run ``code`` (dedented) with ``python -c``; its stripped stdout.

    Raises:
        AssertionError: The process exited non-zero (its stderr is the message).
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()

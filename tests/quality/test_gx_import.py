"""Importing Great Expectations can never end the process, whatever started it.

pyspark (installed for the Spark port) calls `sys.exit(0)` on import when `__main__` has neither
`__spec__` nor `__file__` (as under `python -c` and pytest-xdist workers): a gate run that way
would stop with status 0, looking like a pass. `python -c` reproduces exactly that `__main__`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from warehouse.config import REPO_ROOT


@pytest.mark.parametrize(
    "before, expected",
    [
        ("", "gx loaded; pyspark imported: False"),  # GX skips pyspark: faster, nothing to trip
        ("import pyspark; ", "gx loaded; pyspark imported: True"),  # already there: still no exit
    ],
)
def test_gx_loads_under_an_anonymous_main_module(before: str, expected: str):
    code = (
        f"{before}import sys; from quality.gx_session import load_gx; gx = load_gx(); "
        "print(f'gx loaded; pyspark imported: {\"pyspark\" in sys.modules}'); "
        "import pyspark.sql"  # Spark stays importable for the rest of the process
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == expected, done.stderr[-2000:]


def test_gx_imports_without_what_a_gate_never_uses_and_the_rest_still_works():
    """SQLAlchemy is skipped and scipy.stats and altair wait for first use; all stay usable after."""
    code = (
        "import sys; from quality.gx_session import load_gx; load_gx(); "
        "print('sqlalchemy' in sys.modules, type(sys.modules['scipy.stats']).__name__); "
        "import sqlalchemy; from scipy import stats; print(float(stats.entropy([1, 1], [1, 1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "_LazyModule", "0.0"], done.stderr[-2000:]

"""Every script in examples/ runs as it is, on its own small data, and exits with 0.

Each runs in a child process (as a user would run it) from a temporary working directory, with the
aerec this test session imports: its folder goes first on the child's PYTHONPATH (a relative
PYTHONPATH such as ``python`` would otherwise point elsewhere from that directory).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import aerec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: Further argument sets worth running besides the defaults (a script's other model, for instance).
EXTRA_ARGS = {"ratings_to_recommendations.py": [["--model", "MultVAE"]]}
CASES = [(s, []) for s in SCRIPTS] + [(s, args) for s in SCRIPTS for args in EXTRA_ARGS.get(s.name, [])]


def test_examples_found():
    assert SCRIPTS, f"no scripts in {EXAMPLES}"
    assert set(EXTRA_ARGS) <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize("script, args", CASES, ids=[" ".join([s.stem, *a]) for s, a in CASES])
def test_example_runs(script, args, tmp_path):
    pytest.importorskip("pandas")  # the examples read and write DataFrames (aerec[pandas], in [test])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(aerec.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"{script.name} {args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.strip(), f"{script.name} printed nothing"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == [], f"{script.name} left files in the working directory"

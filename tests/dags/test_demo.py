"""The main job: ``python -m dev.demo`` (``make demo``) succeeds from scratch and reports the
sandbox's numbers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_both_dags_and_its_summary_matches_the_sandbox_records(tmp_path: Path) -> None:
    home = tmp_path / "airflow-demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VOTEL_"))}
    env["VOTEL_DEMO_HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-m", "dev.demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout

    summary = json.loads((home / "summary.json").read_text())
    assert summary["ok"] is True
    checks = summary["checks"]
    for name in ("call logs rows", "people texted", "enrollments", "follow-up tasks", "warehouse rows"):
        assert checks[name]["run"] == checks[name]["sandbox"], name
    # The printed figures are the checked ones.
    assert re.search(rf"people texted\s+{checks['people texted']['run']}\b", out)
    assert re.search(rf"enrolled in the workflow\s+{checks['enrollments']['run']}\b", out)
    assert re.search(rf"call logs extracted\s+{checks['call logs rows']['run']} rows", out)
    # The demo's leads include two numbers that bounce: both get a follow-up task.
    assert checks["follow-up tasks"]["run"] == 2
    assert checks["people texted"]["run"] > 2
    assert Path(summary["files"]["call logs"]).is_file()
    # The sandbox key never appears in what the demo prints or logs.
    assert not re.search(r"\bsk_[A-Za-z0-9_-]{12,}", out + (home / "demo.log").read_text())

"""The real-Frappe suite: a real Frappe site per version (scripts/real-frappe), the installed connector run as Airbyte runs
it, and the database as the truth. No mocks: every server is a real process, and nothing is left running after the
session (scripts/real-frappe down, also when a test or the setup fails).

Which Frappe versions run: REAL_FRAPPE_VERSIONS (comma-separated among v14, v15, develop; default v14: Frappe 15 and 16 are covered by the real-ERPNext suite).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The suite's tests import these from here.
from integration_tests.real_site import CHILD_TABLES, DELETED_AT, SOURCE, STREAMS, Connector, Run, Site, expected  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "real-frappe"
DATA_SCRIPT = ROOT / "scripts" / "real_frappe_data.py"
ALL_VERSIONS = ("v14", "v15", "develop")
VERSIONS = [v.strip() for v in os.environ.get("REAL_FRAPPE_VERSIONS", "v14").split(",") if v.strip()]
assert set(VERSIONS) <= set(ALL_VERSIONS), f"REAL_FRAPPE_VERSIONS: {VERSIONS} (known: {ALL_VERSIONS})"

# -- the site ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_frappe_processes():
    """Stops everything scripts/real-frappe started when the session ends, whatever happened."""
    try:
        yield
    finally:
        subprocess.run([str(SCRIPT), "down"], cwd=ROOT, timeout=300)


@pytest.fixture(scope="session", params=VERSIONS, ids=VERSIONS)
def site(request, real_frappe_processes) -> Site:
    version = request.param
    done = subprocess.run([str(SCRIPT), "up", version], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    sys.stderr.write(done.stderr[-3000:])  # the steps and their timings (no secrets: those are only in configs.json)
    assert done.returncode == 0, f"scripts/real-frappe up {version} failed:\n{done.stdout[-2000:]}\n{done.stderr[-8000:]}"
    configs = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    facts = json.loads((Path(configs["bench"]) / "data.json").read_text())
    facts.pop("users", None)
    return Site(version, configs, facts, DATA_SCRIPT)


@pytest.fixture
def connector(tmp_path) -> Connector:
    return Connector(tmp_path)

"""The real-ERPNext suite: a real ERPNext site per release line (scripts/real-erpnext: Frappe and ERPNext from the
release tarballs, the setup wizard done, data made through ERPNext's own code), the installed connector run as Airbyte
runs it, and the site's database as the truth. No mocks: every server is a real process, and nothing is left running
after the session (scripts/real-erpnext down, also when a test or the setup fails).

Which versions run: REAL_ERPNEXT_VERSIONS (comma-separated among v15, v16; default both).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration_tests.real_site import Connector, Site

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "real-erpnext"
DATA_SCRIPT = ROOT / "scripts" / "real_erpnext_data.py"
ALL_VERSIONS = ("v15", "v16")
VERSIONS = [v.strip() for v in os.environ.get("REAL_ERPNEXT_VERSIONS", "v15,v16").split(",") if v.strip()]
assert set(VERSIONS) <= set(ALL_VERSIONS), f"REAL_ERPNEXT_VERSIONS: {VERSIONS} (known: {ALL_VERSIONS})"


@pytest.fixture(scope="session")
def real_erpnext_processes():
    """Stops everything scripts/real-erpnext started when the session ends, whatever happened."""
    try:
        yield
    finally:
        subprocess.run([str(SCRIPT), "down"], cwd=ROOT, timeout=300)


@pytest.fixture(scope="session", params=VERSIONS, ids=VERSIONS)
def site(request, real_erpnext_processes) -> Site:
    version = request.param
    done = subprocess.run([str(SCRIPT), "up", version], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    sys.stderr.write(done.stderr[-3000:])  # the steps and their timings (no secrets: those are only in configs.json)
    assert done.returncode == 0, f"scripts/real-erpnext up {version} failed:\n{done.stdout[-2000:]}\n{done.stderr[-8000:]}"
    configs = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    facts = json.loads((Path(configs["bench"]) / "data.json").read_text())
    facts.pop("users", None)
    return Site(version, configs, facts, DATA_SCRIPT)


@pytest.fixture
def connector(tmp_path) -> Connector:
    return Connector(tmp_path)

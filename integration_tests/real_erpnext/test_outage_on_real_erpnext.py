"""An operator's bad day on real ERPNext: MariaDB killed during a read and started again ~15 s later. The read
finishes with nothing lost and nothing twice, and the log says what happened in the server's own words (the
database error Frappe answered with), never "rate limit"."""

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, Type

from integration_tests.real_site import SOURCE, Connector, Site, expected

from .conftest import ROOT, SCRIPT

pytestmark = pytest.mark.real_erpnext
OUTAGE_SECONDS = 15


def test_mariadb_killed_during_a_read_loses_nothing_and_the_log_names_the_database_error(site: Site, connector: Connector, tmp_path: Path):
    streams = connector.discover(site.config())
    catalog = {"streams": [{"stream": streams[name], "sync_mode": "full_refresh", "destination_sync_mode": "overwrite", "primary_key": [["name"]]}
                           for name in ("bin", "item")]}
    (tmp_path / "config.json").write_text(json.dumps(site.config(page_size=5, max_concurrency=1)))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    cmd = [str(SOURCE), "read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]
    reader = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, first_record = [], threading.Event()

    def drain() -> None:
        for line in reader.stdout:
            lines.append(line)
            if '"type":"RECORD"' in line.replace(" ", ""):
                first_record.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    assert first_record.wait(120), "the read emitted no record"
    mariadb_pid = int(Path(site.configs["mariadb_pid_file"]).read_text())
    os.kill(mariadb_pid, signal.SIGKILL)  # as the OOM killer or a crash would
    killed_at = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    assert reader.poll() is None, "the read ended while the database was down"
    restarted = subprocess.run([str(SCRIPT), "up", site.version], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    outage = time.monotonic() - killed_at
    reader.wait(600)
    drainer.join(30)
    stderr = reader.stderr.read()

    messages = [AirbyteMessageSerializer.load(json.loads(line)) for line in lines if line.strip().startswith("{")]
    logs = [m.log.message for m in messages if m.type == Type.LOG]
    records = [m.record for m in messages if m.type == Type.RECORD]
    assert reader.returncode == 0, f"exit {reader.returncode}: {stderr[-2000:]}\n" + "\n".join(logs[-10:])
    want = expected(site, ["bin", "item"])
    for stream in ("bin", "item"):
        names = [r.data["name"] for r in records if r.stream == stream]
        twice = [n for n, c in Counter(names).items() if c > 1]
        assert sorted(set(names)) == want[stream]["names"] and not twice, f"{stream}: {len(names)} read, {len(want[stream]['names'])} in the database, twice: {twice[:5]}"
    retries = [line for line in logs if "retry" in line.lower() or "retrying" in line.lower()]
    assert retries, f"the database was down {outage:.0f} s and no retry was logged"
    assert any("OperationalError" in line or "database" in line.lower() for line in retries), "\n".join(retries[:5])
    assert not any("rate limit" in line.lower() for line in logs), "\n".join(line for line in logs if "rate limit" in line.lower())

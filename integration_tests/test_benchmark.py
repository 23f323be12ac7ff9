"""benchmarks/run.py on a small size (not timed): it runs the installed CLI, the bare loop and the sequential
connector against its own test server, and its rows say what each client read and what the server served."""

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_benchmark_reports_every_client_reading_the_same_records(tmp_path):
    rows_file = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--sizes", "2k", "--latencies", "0", "--page-size", "100",
         "--tap-max-size", "0", "--json", str(rows_file)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = {row["client"]: row for row in json.loads(rows_file.read_text())}
    bare, sequential = rows["bare requests"], rows["connector c=1"]
    concurrent = next(row for client, row in rows.items() if client.startswith("connector c=") and row is not sequential)

    assert bare["records"] > 1500  # 2k documents minus the disabled ones the connector leaves out by default
    for row in (concurrent, sequential):
        assert row["records"] == bare["records"], row["note"]
        assert row["per_stream"] == bare["per_stream"]
        assert not row["errors"]
        assert row["maxrss_mb"] > 0 and row["cpu"] > 0 and row["server_cpu"] > 0
        # What the server counted: the bare loop's pages plus what the connector adds (metadata, and for the concurrent
        # read its range lookups and the partial page at each range's end, which costs a request per child table too;
        # per stream the full refresh's newest-`modified` lookup and final pass), never a request per record.
        assert bare["requests"]["total"] <= row["requests"]["total"] <= 1.5 * bare["requests"]["total"] + 40 + 2 * 8 < row["records"] / 4
        assert row["requests"]["meta"] == 8
    assert "| bare requests |" in proc.stdout  # the markdown table docs/performance.md keeps
    discovered = re.search(r"# discover, 500 synthetic DocTypes .*: (\d+) streams in [\d.]+ s, (\d+) requests", proc.stdout)
    assert discovered and int(discovered.group(1)) > 300 and int(discovered.group(2)) > int(discovered.group(1)), proc.stdout[-2000:]

"""demo.py end to end: a PyAirbyte sync into DuckDB, then the "which items need reordering?" table, checked
against ERPNext's rule (integration_tests/reorder_rule.py) over what the ERPNext test server holds."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from integration_tests import reorder_rule
from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo.py"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
SUMMARY = re.compile(r"^(\d+) reorder rules are due")
COLUMNS = ["Item", "Item name", "Warehouse", "Projected qty", "Reorder level", "Qty to request", "Request type"]


def run_demo(*args, timeout=120):
    python = str(VENV_PYTHON if VENV_PYTHON.exists() else sys.executable)
    started = time.time()
    proc = subprocess.run([python, str(DEMO), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "AIRBYTE_OFFLINE_MODE": "1", "HOME": str(Path.home())})
    elapsed = time.time() - started
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout, proc.stderr, elapsed


def parse_output(stdout):
    """(rows, due, compared): rows as dicts from the printed table, the summary's count and the line after it."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Item ") and " | " in line)
    assert [c.strip() for c in lines[header].split(" | ")] == COLUMNS
    assert set(lines[header + 1]) <= {"-", "+"}
    rows = []
    for line in lines[header + 2:]:
        if " | " not in line:
            break
        cells = [c.strip() for c in line.split(" | ")]
        cells += [""] * (len(COLUMNS) - len(cells))  # an empty last cell is stripped from the line
        assert len(cells) == len(COLUMNS), line
        rows.append({"item": cells[0], "item_name": cells[1], "warehouse": cells[2], "request_type": cells[6],
                     **{k: float(v.replace(",", "")) for k, v in
                        zip(("projected_qty", "reorder_level", "qty_to_request"), cells[3:6])}})
    at = next(i for i, line in enumerate(lines) if SUMMARY.match(line))
    return rows, int(SUMMARY.match(lines[at]).group(1)), lines[at + 1]


def full(request):
    return (request["item"], request["warehouse"], request["projected_qty"], request["reorder_level"],
            request["qty_to_request"], request["request_type"])


def test_demo_against_a_server_given_by_config(tmp_path):
    with ErpnextTestServer(items=300, seed=7) as srv:
        config = tmp_path / "erpnext.json"
        config.write_text(json.dumps({"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET}))
        stdout, stderr, elapsed = run_demo("--config", str(config), "--cache", str(tmp_path / "demo.duckdb"),
                                           "--limit", "0")
        expected = reorder_rule.from_test_server(srv)
    rows, due, compared = parse_output(stdout)
    assert rows and "records:" in stderr and "item" in stderr  # progress per stream while syncing
    # --limit 0: every request ERPNext's job would raise is listed, and only those, with its figures.
    assert sorted(map(full, rows)) == sorted(map(full, expected))
    assert due == len(expected)
    names = {r["item"]: r["item_name"] for r in expected}
    assert all(r["item_name"] == names[r["item"]] for r in rows)
    assert compared.startswith("Compared: ") and "projected_qty" in compared
    # Most urgent first.
    shortfalls = [r["reorder_level"] - r["projected_qty"] for r in rows]
    assert shortfalls == sorted(shortfalls, reverse=True)


def test_demo_with_the_bundled_server(tmp_path):
    """The README's first command, as ./scripts/demo runs it (default 2000 items, seed 1), in well under a minute."""
    stdout, stderr, elapsed = run_demo("--cache", str(tmp_path / "demo.duckdb"))
    # About 15 s on an idle 2-core machine; the bound leaves room for a busy CI runner.
    assert elapsed < 90, f"the demo took {elapsed:.1f}s"
    assert "Starting the bundled ERPNext test server (2000 items, seed 1)" in stdout
    rows, due, _ = parse_output(stdout)
    # The bundled server is deterministic: a server built with the same arguments holds the same data.
    expected = reorder_rule.from_test_server(ErpnextTestServer(items=2000, seed=1))
    assert len(rows) == 20 and due == len(expected) > 20
    assert set(map(full, rows)) <= set(map(full, expected))
    # The 20 printed are the largest shortfalls.
    worst = sorted((e["reorder_level"] - e["projected_qty"] for e in expected), reverse=True)[:20]
    assert [r["reorder_level"] - r["projected_qty"] for r in rows] == worst

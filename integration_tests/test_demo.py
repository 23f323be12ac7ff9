"""demo.py end to end: a PyAirbyte sync into DuckDB, then the "which items need reordering?" table, checked
against what the ERPNext test server holds."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path


from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo.py"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
SUMMARY = re.compile(r"^(\d+) of (\d+) reorder rules are below their level")


def run_demo(*args, timeout=120):
    python = str(VENV_PYTHON if VENV_PYTHON.exists() else sys.executable)
    started = time.time()
    proc = subprocess.run([python, str(DEMO), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "AIRBYTE_OFFLINE_MODE": "1", "HOME": str(Path.home())})
    elapsed = time.time() - started
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout, proc.stderr, elapsed


def parse_output(stdout):
    """(rows, below, rules): rows as dicts from the printed table, plus the summary line's two numbers."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Item ") and " | " in line)
    columns = [c.strip() for c in lines[header].split(" | ")]
    assert columns == ["Item", "Item name", "Warehouse", "On hand", "Reorder level", "Reorder qty"]
    assert set(lines[header + 1]) <= {"-", "+"}
    rows = []
    for line in lines[header + 2:]:
        if " | " not in line:
            break
        cells = [c.strip() for c in line.split(" | ")]
        assert len(cells) == len(columns), line
        rows.append({"item": cells[0], "item_name": cells[1], "warehouse": cells[2],
                     **{k: float(v.replace(",", "")) for k, v in zip(("actual", "level", "qty"), cells[3:])}})
    summary = next(SUMMARY.match(line) for line in lines if SUMMARY.match(line))
    return rows, int(summary.group(1)), int(summary.group(2))


def expected_reorders(srv):
    """{(item, warehouse): (actual_qty, reorder level, reorder qty)} from the server's own tables: enabled items
    (the default config does not replicate disabled ones) whose bin stock is below the rule's level."""
    enabled = {i["name"]: i for i in srv.records("Item") if i["disabled"] == 0}
    stock = {(b["item_code"], b["warehouse"]): b["actual_qty"] for b in srv.records("Bin")}
    rules = [r for r in srv.records("Item Reorder") if r["parenttype"] == "Item" and r["parent"] in enabled]
    below = {(r["parent"], r["warehouse"]): (stock[(r["parent"], r["warehouse"])], r["warehouse_reorder_level"],
                                             r["warehouse_reorder_qty"])
             for r in rules
             if (r["parent"], r["warehouse"]) in stock and stock[(r["parent"], r["warehouse"])] < r["warehouse_reorder_level"]}
    return below, len(rules), enabled


def test_demo_against_a_server_given_by_config(tmp_path):
    with ErpnextTestServer(items=300, seed=7) as srv:
        config = tmp_path / "erpnext.json"
        config.write_text(json.dumps({"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET}))
        stdout, stderr, elapsed = run_demo("--config", str(config), "--cache", str(tmp_path / "demo.duckdb"),
                                           "--limit", "0")
        expected, rules, enabled = expected_reorders(srv)
    rows, below, rule_count = parse_output(stdout)
    assert rows, stdout
    assert "records:" in stderr and "item" in stderr  # progress per stream while syncing
    # --limit 0: every pair below its level is listed, and only those.
    assert {(r["item"], r["warehouse"]) for r in rows} == set(expected)
    assert (below, rule_count) == (len(expected), rules)
    for r in rows:
        assert (r["actual"], r["level"], r["qty"]) == expected[(r["item"], r["warehouse"])]
        assert r["actual"] < r["level"]
        assert r["item_name"] == enabled[r["item"]]["item_name"]
    # Most urgent first.
    shortfalls = [r["level"] - r["actual"] for r in rows]
    assert shortfalls == sorted(shortfalls, reverse=True)


def test_demo_with_the_bundled_server(tmp_path):
    """The README's first command, as ./scripts/demo runs it (default 2000 items, seed 1), in well under a minute."""
    stdout, stderr, elapsed = run_demo("--cache", str(tmp_path / "demo.duckdb"))
    # About 15 s on an idle 2-core machine; the bound leaves room for a busy CI runner.
    assert elapsed < 90, f"the demo took {elapsed:.1f}s"
    assert "Starting the bundled ERPNext test server (2000 items, seed 1)" in stdout
    rows, below, rule_count = parse_output(stdout)
    # The bundled server is deterministic: a server built with the same arguments holds the same data.
    expected, rules, _ = expected_reorders(ErpnextTestServer(items=2000, seed=1))
    assert 1 <= len(rows) <= 20 and below == len(expected) and rule_count == rules
    for r in rows:
        assert r["actual"] < r["level"]
        assert (r["actual"], r["level"], r["qty"]) == expected[(r["item"], r["warehouse"])]
    # The 20 printed are the largest shortfalls.
    worst = sorted((level - actual for actual, level, _ in expected.values()), reverse=True)[: len(rows)]
    assert [r["level"] - r["actual"] for r in rows] == worst

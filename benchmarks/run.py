#!/usr/bin/env python
"""Throughput benchmark: the installed source-erpnext CLI against a bare `requests` loop (and tap-erpnext if installed).

    .venv/bin/python benchmarks/run.py [--sizes 10k,100k,500k] [--latencies 0,50] [--quick]

For every size (total documents on the test server) and latency it starts the bundled ERPNext test server as a
subprocess on a free port and runs, one after the other, each as its own child process:

  bare loop     one requests.Session, sequential, the same keyset pages / page size / `parent in [...]` child chunks
                as the connector (no metadata requests, nothing written to stdout)
  connector     `.venv/bin/source-erpnext read` (all 8 streams, full refresh) with the spec's default max_concurrency
  connector c=1 the same with `max_concurrency: 1`
  tap-erpnext   only if it is on PATH (or next to this Python)

Each row: wall time, records, records/s, requests (diff of the server's /__test__/stats, split into list / child /
metadata requests), CPU seconds and peak RSS of the child process (os.wait4 rusage: per process, no wrapper needed),
server CPU seconds during the run (/proc), and the ratios to the bare loop. Output is parsed while streaming: records
are counted, never kept.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from source_erpnext.request_line import CONTINUATION_ROOM, REQUEST_LINE_BUDGET, compact_json, fit_in_filter, in_value

REPO = Path(__file__).resolve().parent.parent
API_KEY, API_SECRET = "demo-api-key", "demo-api-secret"
# Documents per `--items` of the test server: Item 1, Bin 2, Sales Order 1/2, Purchase Order 1/5, Stock Entry 1/5,
# Customer 1/10, Supplier 1/20 (plus a dozen warehouses).
DOCS_PER_ITEM = 4.05
PAGE_SIZE = 500
# The connector's streams (source_erpnext/doctypes.py STANDARD_DOCTYPES) with every child table ERPNext 15 gives their
# DocTypes (the test server has them all): stream, DocType, child tables, disabled field.
STREAMS = [
    ("item", "Item", {"reorder_levels": "Item Reorder", "barcodes": "Item Barcode", "uoms": "UOM Conversion Detail",
                      "attributes": "Item Variant Attribute", "item_defaults": "Item Default", "supplier_items": "Item Supplier",
                      "customer_items": "Item Customer Detail", "taxes": "Item Tax"}, "disabled"),
    ("bin", "Bin", {}, None),
    ("sales_order", "Sales Order", {"items": "Sales Order Item", "pricing_rules": "Pricing Rule Detail",
                                    "taxes": "Sales Taxes and Charges", "packed_items": "Packed Item",
                                    "payment_schedule": "Payment Schedule", "sales_team": "Sales Team"}, None),
    ("supplier", "Supplier", {"companies": "Allowed To Transact With", "accounts": "Party Account",
                              "portal_users": "Portal User"}, "disabled"),
    ("customer", "Customer", {"companies": "Allowed To Transact With", "accounts": "Party Account", "sales_team": "Sales Team",
                              "credit_limits": "Customer Credit Limit", "portal_users": "Portal User"}, "disabled"),
    ("purchase_order", "Purchase Order", {"items": "Purchase Order Item", "pricing_rules": "Pricing Rule Detail",
                                          "supplied_items": "Purchase Order Item Supplied",
                                          "taxes": "Purchase Taxes and Charges", "payment_schedule": "Payment Schedule"}, None),
    ("stock_entry", "Stock Entry", {"items": "Stock Entry Detail", "additional_costs": "Landed Cost Taxes and Charges"}, None),
    ("warehouse", "Warehouse", {}, "disabled"),
]
# The one child table each stream carried before every table was read (issue #19): the "1 table" connector run.
FIRST_TABLES = {"item": "reorder_levels", "sales_order": "items", "purchase_order": "items", "stock_entry": "items"}
DISCOVER_DOCTYPES = 500  # synthetic DocTypes on the server discover is timed on (a real ERPNext 15 has ~500 listable)
PARENT_DOCTYPES = {doctype for _, doctype, _, _ in STREAMS}
CHILD_DOCTYPES = {child for _, _, children, _ in STREAMS for child in children.values()}
RECORD_PREFIX = re.compile(rb'^\{"type":\s*"RECORD",\s*"record":\s*\{"stream":\s*"([^"]+)"')


# ---------------------------------------------------------------------------------------------------------------------
# The bare loop (runs in its own process: `run.py --bare-worker URL PAGE_SIZE`)
# ---------------------------------------------------------------------------------------------------------------------

def _position(row):
    modified = datetime.fromisoformat(str(row["modified"]).replace("T", " "))
    return modified.strftime("%Y-%m-%d %H:%M:%S.%f"), row["name"]


def _child_params(doctype, fieldname, parents, after, limit):
    """The connector's child-row request (source_erpnext/children.py)."""
    filters = [["parenttype", "=", doctype], ["parentfield", "=", fieldname], ["parent", "in", parents]]
    if after is not None:
        filters.append(["name", ">", after])
    return {"parent": doctype, "fields": '["*"]', "filters": compact_json(filters), "order_by": "name asc", "limit_page_length": limit}


def bare_worker(url: str, page_size: int) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"token {API_KEY}:{API_SECRET}"
    requests_sent = 0

    def get_list(doctype, params):
        nonlocal requests_sent
        requests_sent += 1
        response = session.get(f"{url}/api/resource/{quote(doctype, safe='')}", params=params, timeout=(15, 300))
        response.raise_for_status()
        return response.json()["data"]

    per_stream, child_rows = {}, 0
    for stream, doctype, children, disabled_field in STREAMS:
        base = [[disabled_field, "=", 0]] if disabled_field else []
        position, count = None, 0
        while True:
            filters, or_filters = list(base), None
            if position:
                filters.append(["modified", ">=", position[0]])
                or_filters = [["modified", ">", position[0]], ["name", ">", position[1]]]
            params = {"fields": '["*"]', "filters": compact_json(filters), "order_by": "modified asc, name asc",
                      "limit_page_length": page_size}
            if or_filters:
                params["or_filters"] = compact_json(or_filters)
            page = get_list(doctype, params)
            for fieldname, child in children.items():
                by_parent = {row["name"]: [] for row in page}
                limit = page_size * 4
                child_url = f"{url}/api/resource/{quote(child, safe='')}"
                runs = fit_in_filter(child_url, lambda parents: _child_params(doctype, fieldname, parents, None, limit), list(by_parent), REQUEST_LINE_BUDGET, CONTINUATION_ROOM)
                for names in runs:
                    after = None
                    while True:
                        rows = get_list(child, _child_params(doctype, fieldname, in_value(names), after, limit))
                        for child_row in rows:
                            by_parent.setdefault(child_row.get("parent"), []).append(child_row)
                        child_rows += len(rows)
                        if len(rows) < limit:
                            break
                        after = rows[-1]["name"]
                for row in page:
                    row[fieldname] = sorted(by_parent[row["name"]], key=lambda r: r.get("idx") or 0)
            count += len(page)
            if len(page) < page_size:
                break
            position = _position(page[-1])
        per_stream[stream] = count
    print(json.dumps({"records": sum(per_stream.values()), "per_stream": per_stream, "child_rows": child_rows,
                      "requests": requests_sent}))


# ---------------------------------------------------------------------------------------------------------------------
# Measuring child processes
# ---------------------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of a running process from /proc (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def run_measured(cmd, timeout: float, count_records: bool = True, env=None) -> dict:
    """Run cmd, stream its stdout (counting Airbyte/Singer RECORD lines), and return wall/CPU/maxrss of that process."""
    stderr = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=env)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    records, out_bytes, per_stream, errors, last_line = 0, 0, {}, [], b""
    for line in proc.stdout:
        out_bytes += len(line)
        if not count_records:
            last_line = line
            continue
        match = RECORD_PREFIX.match(line)
        if match:
            records += 1
            per_stream[match.group(1).decode()] = per_stream.get(match.group(1).decode(), 0) + 1
            continue
        if b'"RECORD"' in line[:40] or b'"ERROR"' in line[:60]:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "RECORD":  # other key order, or a Singer tap
                stream = message.get("stream") or message.get("record", {}).get("stream", "?")
                records += 1
                per_stream[stream] = per_stream.get(stream, 0) + 1
            elif message.get("type") == "TRACE" and message.get("trace", {}).get("type") == "ERROR":
                errors.append(message["trace"]["error"].get("message", "error"))
            elif message.get("type") == "LOG" and message.get("log", {}).get("level") in ("ERROR", "FATAL"):
                errors.append(message["log"].get("message", "error")[:300])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr.seek(0)
    err_tail = stderr.read().decode(errors="replace")[-2000:]
    stderr.close()
    if proc.returncode != 0:
        last = [l.strip() for l in err_tail.strip().splitlines() if l.strip()][-1:] or ["no stderr"]
        errors.append(f"exit {proc.returncode}: {last[0][:300]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime, "sys": usage.ru_stime,
            "maxrss_mb": usage.ru_maxrss / 1024.0, "records": records, "per_stream": per_stream,
            "out_mb": out_bytes / 1e6, "errors": errors, "last_line": last_line, "returncode": proc.returncode}


class TestServer:
    def __init__(self, items: int, latency_ms: float, doctypes: int = 0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "integration_tests.erpnext_server", "--port", str(self.port), "--items", str(items),
             "--latency-ms", str(latency_ms), "--doctypes", str(doctypes)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()
        if "ERPNext test server on" not in line:
            self.stop()
            raise RuntimeError(f"the test server did not start: {line}")
        self.startup = time.perf_counter() - t0

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/__test__/stats", timeout=30) as response:
            return json.loads(response.read())

    def cpu(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def request_diff(before: dict, after: dict) -> dict:
    counts = {"total": after["total"] - before["total"], "list": 0, "child": 0, "meta": 0, "deleted": 0, "doc": 0,
              "other": 0, "non_get": after["non_get"] - before["non_get"]}
    for path, n in after["requests"].items():
        n -= before["requests"].get(path, 0)
        if not n:
            continue
        if path == "/api/method/frappe.desk.form.load.getdoctype":
            kind = "meta"
        elif path.startswith("/api/resource/"):
            doctype, _, name = path[len("/api/resource/"):].partition("/")
            kind = ("doc" if name else "list" if doctype in PARENT_DOCTYPES else "child" if doctype in CHILD_DOCTYPES
                    else "deleted" if doctype == "Deleted Document" else "other")
        else:
            kind = "other"
        counts[kind] += n
    return counts


# ---------------------------------------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------------------------------------

def connector_cli() -> str:
    beside = Path(sys.executable).parent / "source-erpnext"
    return str(beside) if beside.exists() else (shutil.which("source-erpnext") or "source-erpnext")


def tap_cli():
    """tap-erpnext beside this Python, in .venv-tap (its own venv: `python3 -m venv .venv-tap &&
    .venv-tap/bin/pip install tap-erpnext==0.2.12`), or on PATH."""
    for beside in (Path(sys.executable).parent / "tap-erpnext", REPO / ".venv-tap" / "bin" / "tap-erpnext"):
        if beside.exists():
            return str(beside)
    return shutil.which("tap-erpnext")


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def label_size(docs: int) -> str:
    return f"{docs // 1_000_000}M" if docs % 1_000_000 == 0 else f"{docs // 1000}k" if docs % 1000 == 0 else str(docs)


def default_concurrency(spec_line: bytes) -> int:
    try:
        spec = json.loads(spec_line)["spec"]["connectionSpecification"]
        return int(spec["properties"]["max_concurrency"]["default"])
    except (ValueError, KeyError, TypeError):
        return 4


COLUMNS = [("size", 5), ("lat ms", 6), ("client", 16), ("wall s", 7), ("records", 8), ("rec/s", 8), ("requests", 9),
           ("list/child/meta", 15), ("CPU s", 6), ("RSS MB", 7), ("srv CPU s", 9), ("out MB", 7), ("time×bare", 9),
           ("after start-up", 14), ("req×bare", 8), ("note", 0)]


def fmt_row(row: dict) -> list:
    r = row["requests"]
    return [row["size"], f"{row['latency']:g}", row["client"], f"{row['wall']:.2f}", str(row["records"]),
            f"{row['records'] / row['wall']:,.0f}" if row["wall"] else "-", str(r["total"]),
            f"{r['list']}/{r['child']}/{r['meta']}", f"{row['cpu']:.2f}", f"{row['maxrss_mb']:.0f}",
            f"{row['server_cpu']:.2f}", f"{row['out_mb']:.1f}" if row.get("out_mb") is not None else "-",
            f"{row['time_ratio']:.2f}" if row.get("time_ratio") else "-",
            f"{row['after_startup_ratio']:.2f}" if row.get("after_startup_ratio") else "-",
            f"{row['req_ratio']:.2f}" if row.get("req_ratio") else "-", row.get("note", "")]


def print_text_row(cells: list) -> None:
    print("  ".join(str(c).rjust(w) if w else str(c) for c, (_, w) in zip(cells, COLUMNS)), flush=True)


def markdown(rows: list) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |",
             "|" + "|".join("---" if name in ("client", "note", "size") else "---:" for name, _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in fmt_row(row)) + " |" for row in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,100k,500k", help="total documents per server, e.g. 10k,100k,500k")
    parser.add_argument("--latencies", default="0,50", help="server latency per request in ms, e.g. 0,50")
    parser.add_argument("--quick", action="store_true", help="10k documents at 0 and 50 ms only")
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a client run is killed")
    parser.add_argument("--repeat", type=int, default=1, help="run each client this many times, keep the fastest")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--tap-max-size", default="10k", help="run tap-erpnext only up to this size (a GET per document)")
    parser.add_argument("--connector-path", help="directory put first on PYTHONPATH for the connector runs, so the "
                        "installed CLI imports the source_erpnext package found there (e.g. an export of a commit)")
    parser.add_argument("--no-discover", action="store_true", help="skip timing discover on a server with many DocTypes")
    parser.add_argument("--bare-worker", nargs=2, metavar=("URL", "PAGE_SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_worker:
        bare_worker(args.bare_worker[0], int(args.bare_worker[1]))
        return 0
    sizes = [10_000] if args.quick else [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    latencies = [0.0, 50.0] if args.quick else [float(s) for s in args.latencies.split(",") if s.strip()]

    cli, tap = connector_cli(), tap_cli()
    env = None
    if args.connector_path:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(args.connector_path).resolve()),
                                                                           os.environ.get("PYTHONPATH")])))
    spec = run_measured([cli, "spec"], timeout=120, count_records=False, env=env)
    if spec["errors"]:
        print(f"source-erpnext does not start: {spec['errors'][0]}", file=sys.stderr)
    concurrency = default_concurrency(spec["last_line"])
    bare_start = run_measured([sys.executable, "-c", "import requests"], timeout=120, count_records=False)
    print(f"# {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"best of {max(1, args.repeat)} run(s) per client")
    print(f"# source-erpnext: {cli} (code: {connector_version(args.connector_path, env)}); startup (`spec`): wall {spec['wall']:.2f} s, CPU {spec['cpu']:.2f} s, "
          f"RSS {spec['maxrss_mb']:.0f} MB; default max_concurrency {concurrency}; page_size {args.page_size}; "
          f"bare loop start-up (`import requests`): wall {bare_start['wall']:.2f} s")
    if not tap:
        print("tap-erpnext: not installed")
    print_text_row([name for name, _ in COLUMNS])

    rows, failed = [], False
    work = Path(tempfile.mkdtemp(prefix="erpnext-bench-"))
    for docs in sizes:
        items = max(1, round(docs / DOCS_PER_ITEM))
        for latency in latencies:
            server = TestServer(items, latency)
            print(f"# {label_size(docs)} documents (--items {items}), latency {latency:g} ms: server on {server.url}, "
                  f"ready in {server.startup:.1f} s", flush=True)
            try:
                base = {"base_url": server.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": args.page_size}
                config_default, config_seq = work / "config_default.json", work / "config_seq.json"
                config_default.write_text(json.dumps({**base, "max_concurrency": concurrency}))
                config_seq.write_text(json.dumps({**base, "max_concurrency": 1}))
                catalog = work / "catalog.json"
                discovered = subprocess.run([cli, "discover", "--config", str(config_default)], cwd=REPO, env=env,
                                            capture_output=True).stdout
                streams = next((json.loads(l)["catalog"]["streams"] for l in discovered.splitlines()
                                if l.startswith(b'{"type":"CATALOG"')), None)
                if streams is None:  # the connector cannot discover: fall back to its bundled schemas
                    streams = [{"name": name, "json_schema": json.loads((REPO / "schemas" / f"{name}.json").read_text()),
                                "supported_sync_modes": ["full_refresh", "incremental"]} for name, _, _, _ in STREAMS]
                streams = [s for s in streams if s["name"] in {name for name, _, _, _ in STREAMS}]  # not every DocType
                catalog.write_text(json.dumps({"streams": [
                    {"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in streams]}))
                one_table = work / "catalog_one_table.json"
                one_table.write_text(json.dumps({"streams": [
                    {"stream": deselect_tables(s), "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in streams]}))

                clients = [("bare requests", [sys.executable, str(Path(__file__).resolve()), "--bare-worker", server.url,
                                              str(args.page_size)]),
                           (f"connector c={concurrency}", [cli, "read", "--config", str(config_default), "--catalog", str(catalog)]),
                           ("connector c=1", [cli, "read", "--config", str(config_seq), "--catalog", str(catalog)]),
                           (f"c={concurrency}, 1 table", [cli, "read", "--config", str(config_default), "--catalog", str(one_table)])]
                if tap and docs <= parse_size(args.tap_max_size):
                    tap_config = work / "tap_config.json"
                    # tap-erpnext 0.2.12's settings; its child tables are streams of their own, read with a GET per parent.
                    doctypes = [doctype for _, doctype, _, _ in STREAMS] + [c for _, _, children, _ in STREAMS for c in children.values()]
                    tap_config.write_text(json.dumps({"api_url": server.url, "api_key": API_KEY, "api_secret": API_SECRET,
                                                      "start_date": "2000-01-01T00:00:00Z", "limit_page_length": args.page_size,
                                                      "doctypes": doctypes}))
                    clients.append(("tap-erpnext", tap_command(tap, tap_config, work)))
                bare = None
                for client, cmd in clients:
                    best = None
                    for _ in range(max(1, args.repeat)):
                        before, server_cpu = server.stats(), server.cpu()
                        result = run_measured(cmd, args.timeout, count_records=client != "bare requests",
                                              env=env if client.startswith("connector") else None)
                        measured = (result, server.cpu() - server_cpu, before, server.stats())
                        if best is None or (not result["errors"] and result["wall"] < best[0]["wall"]):
                            best = measured
                    result, server_cpu, before, after = best
                    note = "; ".join(result["errors"])[:300]
                    if client == "bare requests":
                        try:
                            summary = json.loads(result["last_line"])
                            result.update(records=summary["records"], per_stream=summary["per_stream"], child_rows=summary["child_rows"], out_mb=None)
                        except (ValueError, KeyError):
                            note = note or "no summary from the bare loop"
                    row = {"size": label_size(docs), "items": items, "latency": latency, "client": client,
                           "requests": request_diff(before, after), "server_cpu": server_cpu, **result}
                    row.pop("last_line")
                    if client == "bare requests" and not result["errors"]:
                        bare = row
                    elif bare:
                        row["time_ratio"] = row["wall"] / bare["wall"]
                        if client.startswith("connector"):  # both less their start-up: `spec`, and `import requests`
                            row["after_startup_ratio"] = max(0.0, row["wall"] - spec["wall"]) / max(1e-3, bare["wall"] - bare_start["wall"])
                        row["req_ratio"] = row["requests"]["total"] / max(1, bare["requests"]["total"])
                        if client == "tap-erpnext" and not note:
                            note = tap_note(row["per_stream"], bare)
                        elif row["records"] != bare["records"] and not note:
                            note = f"records differ from the bare loop ({bare['records']})"
                            diff = {s: (n, bare["per_stream"].get(s)) for s, n in row["per_stream"].items()
                                    if n != bare["per_stream"].get(s)}
                            note += f": {diff}" if diff else ""
                    extra = [f"{k}={v}" for k, v in row["requests"].items() if k in ("deleted", "doc", "other", "non_get") and v]
                    row["note"] = "; ".join(filter(None, [note, ", ".join(extra)]))
                    failed = failed or bool(result["errors"])
                    rows.append(row)
                    print_text_row(fmt_row(row))
            finally:
                server.stop()
    if not args.no_discover:
        for latency in latencies:
            time_discover(cli, env, latency)
    print(f"\n# load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\n" + markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def deselect_tables(stream: dict) -> dict:
    """The stream with every child table but the one it carried before issue #19 deselected (column selection)."""
    properties = stream["json_schema"]["properties"]
    tables = [f for f, p in properties.items() if "array" in (p.get("type") or []) and f != FIRST_TABLES.get(stream["name"])]
    return {**stream, "json_schema": {**stream["json_schema"], "properties": {f: p for f, p in properties.items() if f not in tables}}}


def time_discover(cli: str, env, latency: float) -> None:
    """`source-erpnext discover` against a test server with DISCOVER_DOCTYPES synthetic DocTypes: streams, wall time,
    requests."""
    server = TestServer(50, latency, doctypes=DISCOVER_DOCTYPES)
    try:
        config = Path(tempfile.mkdtemp(prefix="erpnext-discover-")) / "config.json"
        config.write_text(json.dumps({"base_url": server.url, "api_key": API_KEY, "api_secret": API_SECRET}))
        before = server.stats()
        started = time.perf_counter()
        done = subprocess.run([cli, "discover", "--config", str(config)], cwd=REPO, env=env, capture_output=True)
        wall = time.perf_counter() - started
        streams = next((json.loads(l)["catalog"]["streams"] for l in done.stdout.splitlines() if l.startswith(b'{"type":"CATALOG"')), [])
        after = server.stats()
        by_path = {p: n - before["requests"].get(p, 0) for p, n in after["requests"].items() if n - before["requests"].get(p, 0)}
        lists = sum(n for p, n in by_path.items() if p.startswith("/api/resource/"))
        print(f"# discover, {DISCOVER_DOCTYPES} synthetic DocTypes on top of the test server's, latency {latency:g} ms: "
              f"{len(streams)} streams in {wall:.2f} s, {after['total'] - before['total']} requests "
              f"({by_path.get('/api/method/frappe.desk.form.load.getdoctype', 0)} getdoctype, "
              f"{by_path.get('/api/method/frappe.desk.search.search_widget', 0)} search_widget, {lists} one-name lists)", flush=True)
    finally:
        server.stop()


def connector_version(path, env) -> str:
    """Which source_erpnext the connector runs import: its file, and the git commit (+dirty) of the repo."""
    where = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('source_erpnext').origin)"],
                           capture_output=True, text=True, env=env, cwd="/").stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "source_erpnext"], capture_output=True, text=True,
                           cwd=REPO).stdout.strip()
    if path:
        return f"{where or '?'} (--connector-path)"
    return f"{where or '?'}; repo HEAD {head}{' + uncommitted changes to source_erpnext/' if dirty else ''}"


def tap_note(per_doctype: dict, bare: dict) -> str:
    """tap-erpnext names its streams by DocType and emits child rows as records of their own: compare both with the
    bare loop's documents and child rows (it loses rows that tie on `modified` across pages)."""
    parents = {doctype: bare["per_stream"].get(stream, 0) for stream, doctype, _, _ in STREAMS}
    missing = {d: f"{per_doctype.get(d, 0)} of {n}" for d, n in parents.items() if per_doctype.get(d, 0) != n}
    children = sum(n for d, n in per_doctype.items() if d in CHILD_DOCTYPES)
    return (f"child rows as records ({children:,} of {bare.get('child_rows', 0):,}); "
            + (f"documents differ: {missing}" if missing else "documents as the bare loop"))


def tap_command(tap: str, config: Path, work: Path) -> list:
    """A Singer tap: discover (outside the timing), select every stream, then sync with the catalog."""
    found = subprocess.run([tap, "--config", str(config), "--discover"], capture_output=True, cwd=REPO)
    try:
        catalog = json.loads(found.stdout)
        for stream in catalog.get("streams", []):
            stream["selected"] = True
            for entry in stream.get("metadata", []):
                if entry.get("breadcrumb") == []:
                    entry.setdefault("metadata", {})["selected"] = True
        path = work / "tap_catalog.json"
        path.write_text(json.dumps(catalog))
        return [tap, "--config", str(config), "--catalog", str(path)]
    except ValueError:
        return [tap, "--config", str(config)]


if __name__ == "__main__":
    sys.exit(main())

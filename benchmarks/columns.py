#!/usr/bin/env python
"""Column selection on a real Frappe site: a full read of sales_order and item with every field against one with 5
selected fields each. Prints wall time, bytes the site sent (counted by a relay in front of it), and the CPU the
site's gunicorn workers and MariaDB spent, per run.

    scripts/real-frappe up v15
    .venv/bin/python benchmarks/columns.py --config .real-frappe/v15/configs.json [--repeat 3]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

SELECTED = {
    "sales_order": ["name", "modified", "customer", "grand_total", "status"],
    "item": ["name", "modified", "item_name", "stock_uom", "item_group"],
}


class CountingRelay:
    """A TCP relay on 127.0.0.1 that forwards to the site and counts the bytes the site sends back."""

    def __init__(self, target_port: int):
        self.target_port, self.received = target_port, 0
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, count: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if count:
                    with self._lock:
                        self.received += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def cpu_seconds(match: str) -> float:
    """utime+stime of every process whose command line holds `match` (the site's gunicorn workers, mariadbd)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if match in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return total


def catalog(discovered: dict, selected: bool) -> dict:
    streams = []
    for name, fields in SELECTED.items():
        stream = dict(discovered[name])
        if selected:
            stream["json_schema"] = {**stream["json_schema"], "properties": {f: stream["json_schema"]["properties"][f] for f in fields}}
        streams.append({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
    return {"streams": streams}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="scripts/real-frappe's configs.json (its `api` entry is used)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())["api"]
    source = str(Path(sys.executable).parent / "source-erpnext")
    relay = CountingRelay(urlsplit(config["base_url"]).port)
    config = {**config, "base_url": f"http://127.0.0.1:{relay.port}"}
    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_text(json.dumps(config))
    done = subprocess.run([source, "discover", "--config", str(folder / "config.json")], capture_output=True, text=True, check=True)
    discovered = {s["name"]: s for line in done.stdout.splitlines() if '"CATALOG"' in line for s in json.loads(line)["catalog"]["streams"]}
    print("| fields | wall s | records | MB from the site | gunicorn CPU s | MariaDB CPU s |")
    print("|---|---:|---:|---:|---:|---:|")
    for _ in range(args.repeat):
        for selected in (False, True):
            (folder / "catalog.json").write_text(json.dumps(catalog(discovered, selected)))
            received, workers, database = relay.received, cpu_seconds("frappe.app:application"), cpu_seconds("mariadbd")
            started = time.perf_counter()
            done = subprocess.run([source, "read", "--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")], capture_output=True, text=True)
            wall = time.perf_counter() - started
            records = sum('"type": "RECORD"' in line or '"type":"RECORD"' in line for line in done.stdout.splitlines())
            label = "5 selected per stream" if selected else "all"
            print(f"| {label} | {wall:.2f} | {records:,} | {(relay.received - received) / 1e6:.2f} | "
                  f"{cpu_seconds('frappe.app:application') - workers:.2f} | {cpu_seconds('mariadbd') - database:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""Demo: sync ERPNext into a local DuckDB file with PyAirbyte, then ask it "which items need reordering?".

    ./scripts/demo                          # the bundled ERPNext test server (in-process, ~2000 items)
    ./scripts/demo --config erpnext.json    # a real ERPNext site (base_url, api_key, api_secret, ...)

The answer is queries/duckdb/reorder.sql, run on the synced tables: ERPNext's own reorder job
(erpnext/stock/reorder_item.py) as SQL. Each Item Reorder rule (the item's reorder_levels, a JSON array
column) is due when the projected qty of its warehouse (Bin.projected_qty; summed over the group for a
"Check in (group)" rule; 0 where no Bin exists) is at or below its level; the quantity to request is the
larger of the rule's reorder qty and the shortfall. See docs/integrations/sources/erpnext.md, "Which items
need reordering?".
"""

import argparse
import json
import os
import shutil
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")  # no registry to reach: the connector is installed locally
warnings.filterwarnings("ignore", category=FutureWarning)  # Google client libraries' Python-version notices

# The standard streams: what queries/ reads (reorder.sql: item, bin, warehouse; views.sql: sales_order, supplier too).
STREAMS = ["item", "bin", "sales_order", "supplier", "customer", "purchase_order", "stock_entry", "warehouse"]
COLUMNS = ("Item", "Item name", "Warehouse", "Projected qty", "Reorder level", "Qty to request", "Request type")
COMPARED = ("Compared: each reorder rule's level with Bin.projected_qty (actual + ordered + requested + planned "
            "- reserved quantities) in its warehouse, or summed over its 'Check in (group)' warehouse, 0 where there is no Bin; "
            "due at or below the level, for enabled stock items (no templates, not past end of life) on enabled "
            "warehouses, as ERPNext's reorder job decides.")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, help="JSON config of a real ERPNext site (default: the bundled test server)")
    p.add_argument("--items", type=int, default=2000, help="items on the bundled test server (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="data seed of the bundled test server (default 1)")
    p.add_argument("--cache", type=Path, help="DuckDB file to sync into (default under .cache/)")
    p.add_argument("--limit", type=int, default=20, help="rows to print, most urgent first; 0 prints all (default 20)")
    return p.parse_args(argv)


def connector_executable() -> str:
    """The source-erpnext installed beside this Python (the repo's .venv), else the repo's .venv, else PATH."""
    for candidate in (Path(sys.executable).parent / "source-erpnext", ROOT / ".venv" / "bin" / "source-erpnext"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("source-erpnext")
    if not found:
        sys.exit("source-erpnext is not installed: run ./scripts/demo (it creates .venv with the connector).")
    return found


class SyncProgress:
    """Prints records read per stream while PyAirbyte syncs (one updating line on a terminal, else a line a second).

    PyAirbyte creates its ProgressTracker inside Source.read(); the demo substitutes a subclass that
    registers itself, and polls its per-stream counts from a thread.
    """

    def __init__(self):
        import airbyte.sources.base as source_base
        from airbyte.progress import ProgressStyle, ProgressTracker

        self.trackers = []
        self.tty = sys.stderr.isatty()
        self._stop = threading.Event()
        self._finished = False
        trackers, progress = self.trackers, self

        class DemoTracker(ProgressTracker):
            def __init__(self, *args, **kwargs):
                kwargs["style"] = ProgressStyle.PLAIN  # our own line instead of Rich's live view
                super().__init__(*args, **kwargs)
                trackers.append(self)

            def log_success(self, *args, **kwargs):
                progress.finish()  # end our line before PyAirbyte prints its "Completed" message
                return super().log_success(*args, **kwargs)

        source_base.ProgressTracker = DemoTracker
        self._thread = threading.Thread(target=self._run, daemon=True)

    def line(self) -> str:
        if not self.trackers:
            return "  starting the connector..."
        t = self.trackers[-1]
        counts = dict(t.stream_read_counts)
        streams = ", ".join(f"{name} {n:,}" for name, n in counts.items()) or "waiting for the first record"
        phase = "loading into DuckDB" if t.read_end_time else "reading"
        return f"  {phase} {time.time() - t.read_start_time:4.1f}s | {sum(counts.values()):,} records: {streams}"

    def _emit(self, text: str, final: bool = False):
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _run(self):
        while not self._stop.wait(0.5 if self.tty else 1.0):
            self._emit(self.line())

    def __enter__(self):
        self._thread.start()
        return self

    def finish(self):
        if self._finished:
            return
        self._finished = True
        self._stop.set()
        self._thread.join()
        self._emit(self.line(), final=True)

    def __exit__(self, *exc):
        self.finish()


def sync(config: dict, cache_path: Path):
    import airbyte as ab
    from airbyte.caches import DuckDBCache

    cache_path.parent.mkdir(parents=True, exist_ok=True)
    cache = DuckDBCache(db_path=cache_path, cache_dir=cache_path.parent / "pyairbyte")
    source = ab.get_source("source-erpnext", local_executable=connector_executable(), config=config)
    source.select_streams(STREAMS)  # what queries/ reads (a real site's catalog holds every DocType the user may read)
    started = time.time()
    with SyncProgress():
        result = source.read(cache=cache)
    counts = {name: len(dataset) for name, dataset in result.streams.items()}
    print(f"Synced in {time.time() - started:.1f}s. Rows now in {display_path(cache_path)}: "
          + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
    return cache


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def reorder_rows(cache):
    """The rows of queries/duckdb/reorder.sql over the synced tables, through the cache's own engine."""
    import queries

    return queries.reorder_requests(cache.get_sql_engine(), "duckdb")


def fmt_qty(value) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def print_table(rows, limit: int):
    shown = rows if limit <= 0 else rows[:limit]
    cells = [(r["item"], r["item_name"] or "", r["warehouse"], fmt_qty(r["projected_qty"]), fmt_qty(r["reorder_level"]),
              fmt_qty(r["qty_to_request"]), r["request_type"] or "") for r in shown]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(COLUMNS)]
    right = {3, 4, 5}

    def line(values):
        return " | ".join(v.rjust(w) if i in right else v.ljust(w)
                          for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    print()
    print("Which items need reordering? (queries/duckdb/reorder.sql: the requests ERPNext's reorder job would raise)")
    print()
    print(line(COLUMNS))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(line(row))
    more = f"; showing the {len(shown)} with the largest shortfall (--limit 0 shows all)" if len(shown) < len(rows) else ""
    print()
    print(f"{len(rows)} reorder rules are due{more}.")
    print(COMPARED)


def main(argv=None) -> int:
    args = parse_args(argv)
    server = None
    if args.config:
        config = json.loads(args.config.read_text())
        host = urlsplit(config.get("base_url", "")).hostname or "erpnext"
        # One file per site; kept between runs, so later runs read incrementally from PyAirbyte's saved state.
        cache_path = args.cache or ROOT / ".cache" / f"erpnext-{host}.duckdb"
    else:
        sys.path.insert(0, str(ROOT))
        from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

        print(f"Starting the bundled ERPNext test server ({args.items} items, seed {args.seed})...")
        server = ErpnextTestServer(items=args.items, seed=args.seed, port=0).start()
        print(f"ERPNext test server on {server.url}")
        config = {"base_url": server.url, "api_key": API_KEY, "api_secret": API_SECRET}
        cache_path = args.cache or ROOT / ".cache" / "erpnext.duckdb"
        # A fresh server every run: start from an empty cache, not from the state of an earlier server.
        cache_path.unlink(missing_ok=True)
    try:
        cache = sync(config, cache_path)
    finally:
        if server:
            server.stop()
    import queries

    try:
        rows = reorder_rows(cache)
    except queries.MissingInDestination as error:
        print(f"\n{error}", file=sys.stderr)
        return 1
    print_table(rows, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())

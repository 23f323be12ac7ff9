#!/usr/bin/env python
"""A full refresh of Sales Orders at scale on a real ERPNext site, as it ships and with an index on `modified` added
by hand (`bench add-database-index`, which the connector then uses); and an incremental sync after 1,000 new and 200
edited orders. Prints, per run: wall time, records, time per 1,000 records, MariaDB's CPU seconds, rows MariaDB read
by scanning (Handler_read_rnd_next + Handler_read_next) (what an index would have spared), and for the incremental
sync the requests it sent (counted by a relay) and how many whole tables the rows it scanned make.

    .venv/bin/python benchmarks/scale_on_real_erpnext.py --version v16 --rows 300000,1000000

The orders are copies of the site's own by SQL (`SO-SCALE-<n>`), with `creation` ascending in name order and
`modified` spread over 90 days independently of it (so the two orders differ, as on a real site where old orders get
edited); they are removed again at the end (--keep to leave them). Frappe 16 (ERPNext 16) has no index on
`modified`; v15 has one: `--version v15` shows that plan as the baseline.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from integration_tests.real_site import CountingRelay  # noqa: E402
SOURCE = Path(sys.executable).parent / "source-erpnext"


def mariadb(configs: dict, sql: str) -> str:
    db = configs["database"]
    socket = Path(configs["mariadb_pid_file"]).parent / "mysqld.sock"
    cmd = ["mariadb", "--protocol=socket", f"--socket={socket}", f"-u{db['user']}", f"-p{db['password']}", "-N", "-B", db["name"], "-e", sql]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mariadb: {done.stderr[-2000:]}")
    return done.stdout


def mariadb_cpu(configs: dict) -> float:
    pid = int(Path(configs["mariadb_pid_file"]).read_text())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, in clock ticks of 1/100 s


def scanned_rows(configs: dict) -> int:
    out = mariadb(configs, "show global status where Variable_name in ('Handler_read_rnd_next', 'Handler_read_next')")
    return sum(int(line.split()[1]) for line in out.splitlines())


def make_orders(configs: dict, rows: int) -> None:
    """Copies of one submitted order, `rows` in all under the SO-SCALE- prefix."""
    have = int(mariadb(configs, "select count(*) from `tabSales Order` where name like 'SO-SCALE-%'"))
    if have == rows:
        return
    mariadb(configs, "delete from `tabSales Order` where name like 'SO-SCALE-%'")
    columns = [c for c in mariadb(configs, "select column_name from information_schema.columns where table_schema = database() "
                                           "and table_name = 'tabSales Order' order by ordinal_position").split() if c not in ("name", "creation", "modified")]
    cols = ", ".join(f"`{c}`" for c in columns)
    template = mariadb(configs, "select name from `tabSales Order` where docstatus = 1 order by name limit 1").strip()
    mariadb(configs, "create table if not exists scale_numbers (n int primary key)")
    if int(mariadb(configs, "select count(*) from scale_numbers")) < rows:
        mariadb(configs, "delete from scale_numbers; insert into scale_numbers (n) select seq from seq_0_to_%d" % (rows - 1))
    started = time.monotonic()
    step = 100_000
    for low in range(0, rows, step):
        mariadb(configs, f"""insert into `tabSales Order` (name, creation, modified, {cols})
            select concat('SO-SCALE-', lpad(n, 8, '0')), timestamp('2026-01-01') + interval n second,
                   timestamp('2026-04-01') + interval (crc32(n) % 7776000) second, {cols}
            from scale_numbers join `tabSales Order` t on t.name = '{template}' where n >= {low} and n < {min(low + step, rows)}""")
    print(f"# made {rows:,} orders by SQL in {time.monotonic() - started:.0f} s", flush=True)


def read(configs: dict, catalog: dict, tmp: Path, state=None, base_url=None) -> dict:
    (tmp / "config.json").write_text(json.dumps({**configs["api"], **({"base_url": base_url} if base_url else {})}))
    (tmp / "catalog.json").write_text(json.dumps(catalog))
    cmd = [str(SOURCE), "read", "--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        cmd += ["--state", str(tmp / "state.json")]
    cpu0, scans0, started = mariadb_cpu(configs), scanned_rows(configs), time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True)
    took = time.monotonic() - started
    records, states = 0, {}
    for line in done.stdout.splitlines():
        if line.startswith('{"type":"RECORD"'):
            records += 1
        elif line.startswith('{"type":"STATE"'):
            message = json.loads(line)["state"]
            states[message["stream"]["stream_descriptor"]["name"]] = message
    if done.returncode != 0:
        raise SystemExit(f"read failed: {done.stderr[-2000:]}\n{done.stdout[-3000:]}")
    return {"seconds": took, "records": records, "db_cpu": mariadb_cpu(configs) - cpu0, "scanned": scanned_rows(configs) - scans0,
            "state": list(states.values())}


def report(label: str, rows: int, result: dict, requests: str = "") -> None:
    per_k = result["seconds"] / max(result["records"], 1) * 1000
    print(f"{label:<38} {rows:>10,} {result['records']:>9,} {result['seconds']:>8.1f} s {per_k:>7.3f} s/1k "
          f"{result['db_cpu']:>8.1f} s {result['scanned']:>14,} {result['scanned'] / rows:>6.1f}  {requests}", flush=True)


def add_modified_index(configs: dict) -> None:
    """The admin's way: bench --site <site> add-database-index --doctype "Sales Order" --column modified."""
    bench = Path(configs["bench"])
    cmd = [configs["python"], "-m", "frappe.utils.bench_helper", "frappe", "--site", configs["site"], "add-database-index", "--doctype", "Sales Order", "--column", "modified"]
    done = subprocess.run(cmd, cwd=bench / "sites", capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"add-database-index: {done.stderr[-2000:]}")


def drop_modified_index(configs: dict) -> None:
    for index in mariadb(configs, "show index from `tabSales Order` where Column_name = 'modified'").splitlines():
        key_name = index.split("\t")[2]  # Table, Non_unique, Key_name, ... (the table's name holds a space)
        mariadb(configs, f"alter table `tabSales Order` drop index `{key_name}`")
    mariadb(configs, "delete from `tabProperty Setter` where doc_type = 'Sales Order' and field_name = 'modified'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="v16", choices=["v15", "v16"])
    parser.add_argument("--rows", default="300000", help="comma-separated table sizes, e.g. 300000,1000000")
    parser.add_argument("--keep", action="store_true", help="leave the copies in the site")
    args = parser.parse_args()
    up = subprocess.run([str(ROOT / "scripts" / "real-erpnext"), "up", args.version], capture_output=True, text=True)
    if up.returncode != 0:
        raise SystemExit(up.stderr[-3000:])
    configs = json.loads(Path(up.stdout.strip().splitlines()[-1]).read_text())
    discover = subprocess.run([str(SOURCE), "discover", "--config", "/dev/stdin"], input=json.dumps(configs["api"]), capture_output=True, text=True)
    stream = next(json.loads(line)["catalog"]["streams"] for line in discover.stdout.splitlines() if line.startswith('{"type":"CATALOG"'))
    sales_order = next(s for s in stream if s["name"] == "sales_order")
    full = {"streams": [{"stream": sales_order, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite", "primary_key": [["name"]]}]}
    incremental = {"streams": [{"stream": sales_order, "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
                                "cursor_field": ["modified"], "primary_key": [["name"]]}]}
    print(f"# ERPNext {configs['erpnext_version']} / Frappe {configs['frappe_version']}, sales_order, default settings")
    print(f"{'run':<38} {'table':>10} {'records':>9} {'wall':>10} {'per 1k':>12} {'MariaDB CPU':>10} {'rows scanned':>14} {'tables':>6}  requests")
    indexed = bool(mariadb(configs, "show index from `tabSales Order` where Column_name = 'modified'").strip())
    with tempfile.TemporaryDirectory() as tmp:
        for rows in (int(r) for r in args.rows.split(",")):
            make_orders(configs, rows)
            report(f"full refresh, as shipped{' (indexed)' if indexed else ''}", rows, read(configs, full, Path(tmp)))
            first = read(configs, incremental, Path(tmp))
            report("first incremental sync, as shipped", rows, first)
            change_orders(configs, rows)
            relay = CountingRelay(configs["base_url"])
            changed = read(configs, incremental, Path(tmp), first["state"], relay.url)
            report("incremental, 1,000 new + 200 edited", rows, changed, ", ".join(f"{n} {p.rsplit('/', 1)[-1]}" for p, n in relay.requests.most_common()))
            mariadb(configs, "delete from `tabSales Order` where name like 'SO-SCALE-NEW-%'")
            if not indexed:
                add_modified_index(configs)
                report("full refresh, modified index by hand", rows, read(configs, full, Path(tmp)))
                drop_modified_index(configs)
        if not args.keep:
            mariadb(configs, "delete from `tabSales Order` where name like 'SO-SCALE-%'; drop table if exists scale_numbers")


def change_orders(configs: dict, rows: int) -> None:
    """1,000 new orders (creation and modified now) and 200 old ones edited (modified now), spread over the table."""
    mariadb(configs, """insert into `tabSales Order` (name, creation, modified, docstatus, company, customer, transaction_date)
        select concat('SO-SCALE-NEW-', lpad(n, 5, '0')), now(6), now(6), docstatus, company, customer, transaction_date
        from scale_numbers join `tabSales Order` t on t.name = 'SO-SCALE-00000000' where n < 1000""")
    mariadb(configs, "update `tabSales Order` set modified = now(6) where name in "
                     f"(select concat('SO-SCALE-', lpad(n * {rows // 200}, 8, '0')) from scale_numbers where n < 200)")


if __name__ == "__main__":
    main()

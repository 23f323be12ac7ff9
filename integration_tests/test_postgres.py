"""PyAirbyte's PostgresCache fed by the connector: an incremental sync, edits and deletions on ERPNext, a second sync.

A real PostgreSQL is started in a temporary directory (initdb + pg_ctl, as the `postgres` user when the tests
run as root). PyAirbyte merges incremental records into the cache by primary key; it gives `_ab_cdc_deleted_at`
no special meaning: the connector's deletion record ({name, modified, _ab_cdc_deleted_at}) is merged like any
other record, so the deleted document's row stays in the table, with `_ab_cdc_deleted_at` set and every other
column (except the primary key `name` and `modified`) overwritten with NULL. Live rows are those where
`_ab_cdc_deleted_at IS NULL`.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import queries
from demo import connector_executable  # the installed source-erpnext, as the demo finds it

from integration_tests import reorder_rule
from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")

ab = pytest.importorskip("airbyte")
sqlalchemy = pytest.importorskip("sqlalchemy")
from airbyte.caches import PostgresCache  # noqa: E402

SCHEMA = "erpnext"
STREAMS = ["item", "sales_order", "bin", "warehouse", "supplier"]


def postgres_bin_dir():
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(directory, "initdb")) and os.path.exists(os.path.join(directory, "pg_ctl")):
            return directory
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return os.path.dirname(initdb)
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL: yields (host, port); stopped and removed afterwards."""
    bindir = postgres_bin_dir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_root = os.geteuid() == 0
    base = tempfile.mkdtemp(prefix="erpnext-pg-")
    if as_root:
        shutil.chown(base, "postgres", "postgres")

    def run(*args):
        cmd = [os.path.join(bindir, args[0]), *args[1:]]
        if as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)

    data, port = os.path.join(base, "data"), free_port()
    run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
    try:
        run("pg_ctl", "-D", data, "-o", options, "-l", os.path.join(base, "log"), "-w", "start")
    except subprocess.CalledProcessError as error:
        log = Path(base, "log")
        server_log = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {error.stderr}\n{server_log}")
    try:
        yield "127.0.0.1", port
    finally:
        try:
            run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(base, ignore_errors=True)


def query(cache, sql, **params):
    with cache.get_sql_engine().connect() as conn:
        return conn.execute(sqlalchemy.text(sql), params).mappings().all()


def live(cache, table):
    """name -> row of the rows not flagged deleted."""
    rows = query(cache, f"SELECT * FROM {SCHEMA}.{table} WHERE _ab_cdc_deleted_at IS NULL")
    return {row["name"]: row for row in rows}


def test_incremental_sync_with_edits_and_deletions_into_postgres(postgres, tmp_path):
    host, port = postgres
    srv = ErpnextTestServer(items=200, seed=5).start()
    try:
        cache = PostgresCache(host=host, port=port, username="postgres", password="", database="postgres",
                              schema_name=SCHEMA, cache_dir=tmp_path / "pyairbyte")
        config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "refresh_open_documents": False}  # exactly what moved `modified`: open orders would come again
        source = ab.get_source("source-erpnext", local_executable=connector_executable(), config=config)
        source.select_streams(STREAMS)

        started = time.time()
        first = source.read(cache=cache)
        assert set(STREAMS) <= set(first.streams)
        # Incremental (the state is kept in the cache). Whether the site's older Deleted Documents arrive as
        # deletion records on a first sync is the connector's choice; any that do are rows flagged deleted.
        items = [i for i in srv.records("Item") if i["disabled"] == 0]
        assert set(live(cache, "item")) == {i["name"] for i in items}
        pre_deleted = {r["name"] for r in query(cache, f"SELECT name FROM {SCHEMA}.item WHERE _ab_cdc_deleted_at IS NOT NULL")}
        assert pre_deleted <= {r["deleted_name"] for r in srv.records("Deleted Document") if r["deleted_doctype"] == "Item"}
        orders = srv.records("Sales Order")
        assert set(live(cache, "sales_order")) == {o["name"] for o in orders}
        assert len(live(cache, "bin")) == len(srv.records("Bin"))

        # Edits and deletions on the site.
        edited_item, deleted_item = items[10]["name"], items[20]["name"]
        edited_order, deleted_order = orders[5]["name"], orders[7]["name"]
        srv.edit("Item", edited_item, item_name="Renamed Hinge", valuation_rate=123.45)
        srv.edit("Sales Order", edited_order, status="Closed", grand_total=4242.5)
        srv.delete("Item", deleted_item)
        srv.delete("Sales Order", deleted_order)

        second = source.read(cache=cache)
        # The second read is incremental: only the edits (plus the lookback window) and the deletions.
        assert first.processed_records > len(items) + len(orders)
        assert 4 <= second.processed_records < 50

        item_rows = live(cache, "item")
        assert item_rows[edited_item]["item_name"] == "Renamed Hinge"
        assert float(item_rows[edited_item]["valuation_rate"]) == pytest.approx(123.45)
        order_rows = live(cache, "sales_order")
        assert order_rows[edited_order]["status"] == "Closed"
        assert float(order_rows[edited_order]["grand_total"]) == pytest.approx(4242.5)
        # Child rows survive the merge, as a JSON array.
        expected_children = sum(1 for c in srv.records("Sales Order Item") if c["parent"] == edited_order)
        assert expected_children and len(order_rows[edited_order]["items"]) == expected_children

        # Live rows match the site exactly (disabled items are not replicated with the default config).
        assert set(item_rows) == {i["name"] for i in srv.records("Item") if i["disabled"] == 0}
        assert set(order_rows) == {o["name"] for o in srv.records("Sales Order")}
        for table in STREAMS:
            assert not query(cache, f"SELECT name FROM {SCHEMA}.{table} GROUP BY name HAVING count(*) > 1"), table

        # What PyAirbyte does with the deletion record: merges it by primary key like any record. The row
        # stays, flagged by _ab_cdc_deleted_at; the columns the deletion record lacks become NULL.
        for table, name in (("item", deleted_item), ("sales_order", deleted_order)):
            rows = query(cache, f"SELECT * FROM {SCHEMA}.{table} WHERE name = :name", name=name)
            assert len(rows) == 1, (table, name)
            row = rows[0]
            assert row["_ab_cdc_deleted_at"] is not None
            assert row["modified"] == row["_ab_cdc_deleted_at"]
            assert row["docstatus"] is None and row["creation"] is None
        deleted_item_row = query(cache, f"SELECT * FROM {SCHEMA}.item WHERE name = :name", name=deleted_item)[0]
        assert deleted_item_row["item_name"] is None and deleted_item_row["reorder_levels"] is None
        # Every other row is live, and every flagged row is a document of the site's Deleted Document log.
        flagged = {r["name"] for r in query(cache, f"SELECT name FROM {SCHEMA}.item WHERE _ab_cdc_deleted_at IS NOT NULL")}
        log = {r["deleted_name"] for r in srv.records("Deleted Document") if r["deleted_doctype"] == "Item"}
        assert deleted_item in flagged and flagged <= log, flagged - log
        total = query(cache, f"SELECT count(*) AS n FROM {SCHEMA}.item")[0]["n"]
        assert total == len(item_rows) + len(flagged)

        # The shipped reorder query (queries/postgres/reorder.sql) gives ERPNext's requests, row for row.
        engine = cache.get_sql_engine()
        expected = reorder_rule.from_test_server(srv)
        rows = queries.reorder_requests(engine, "postgres", schema=SCHEMA)
        assert rows and list(rows[0]) == list(queries.COLUMNS)
        assert sorted(map(reorder_rule.key, rows)) == sorted(map(reorder_rule.key, expected))
        assert sorted(map(reorder_figures, rows)) == sorted(map(reorder_figures, expected))
        assert not [r for r in rows if r["item"] == deleted_item]
        shortfalls = [r["reorder_level"] - r["projected_qty"] for r in rows]
        assert shortfalls == sorted(shortfalls, reverse=True)
        # ... and the views (queries/postgres/views.sql) the seed's data models.
        queries.create_views(engine, "postgres", schema=SCHEMA)
        inventory = {r["item_code"]: r for r in queries.view_rows(engine, "inventory_items", "postgres", SCHEMA)}
        assert set(inventory) == set(item_rows)
        assert inventory[edited_item]["item_name"] == "Renamed Hinge"
        assert float(inventory[edited_item]["unit_price"]) == pytest.approx(123.45)
        assert {c for c, r in inventory.items() if r["needs_reorder"]} == {r["item"] for r in expected}
        stock = {}
        for b in srv.records("Bin"):
            stock[b["item_code"]] = stock.get(b["item_code"], 0) + b["actual_qty"]
        assert all(r["stock_qty"] == pytest.approx(stock.get(c, 0)) for c, r in inventory.items())
        orders = {r["order_id"]: r for r in queries.view_rows(engine, "sales_orders", "postgres", SCHEMA)}
        assert set(orders) == set(order_rows) and orders[edited_order]["status"] == "Closed"
        assert orders[edited_order]["total_amount"] == pytest.approx(4242.5)
        suppliers = {r["supplier_id"]: r for r in queries.view_rows(engine, "suppliers", "postgres", SCHEMA)}
        site_suppliers = {s["name"]: s for s in srv.records("Supplier") if s["disabled"] == 0}
        assert set(suppliers) == set(site_suppliers)
        assert all(r["is_active"] is True and r["payment_terms"] == site_suppliers[n]["payment_terms"]
                   and r["country"] == site_suppliers[n]["country"] for n, r in suppliers.items())
        assert time.time() - started < 120  # about 15 s on an idle machine
    finally:
        srv.stop()


def reorder_figures(r):
    return (r["item"], r["warehouse"], round(r["projected_qty"], 6), round(r["reorder_level"], 6),
            round(r["qty_to_request"], 6), r["request_type"])


def test_item_disabled_after_replication_leaves_the_cache(postgres, tmp_path):
    host, port = postgres
    with ErpnextTestServer(items=60, seed=9) as srv:
        cache = PostgresCache(host=host, port=port, username="postgres", password="", database="postgres",
                              schema_name="erpnext_disabled", cache_dir=tmp_path / "pyairbyte")
        config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET}
        source = ab.get_source("source-erpnext", local_executable=connector_executable(), config=config)
        source.select_streams(["item"])
        source.read(cache=cache)
        victim = next(i["name"] for i in srv.records("Item") if i["disabled"] == 0)
        srv.edit("Item", victim, disabled=1)
        source.read(cache=cache)
        rows = query(cache, "SELECT name, disabled FROM erpnext_disabled.item WHERE _ab_cdc_deleted_at IS NULL")
        # Either the row is gone/flagged, or (include_disabled semantics) it says disabled = 1; it must not
        # still claim to be an enabled item.
        assert (victim, 0) not in {(r["name"], r["disabled"]) for r in rows}
        assert len(rows) == sum(1 for i in srv.records("Item") if i["disabled"] == 0)

"""Complete documents and the whole catalog on real ERPNext: every standard stream carries every child table the
database has for it; a deselected child table costs no request; discover lists the DocTypes the API user may read, and
ten of them chosen across modules read equal to the database."""

import time

import pytest

from integration_tests.real_site import STREAMS, Connector, CountingRelay, Site, expected, mismatches

pytestmark = pytest.mark.real_erpnext

# Each child table of each stream's DocType: child rows' names per parent, in idx order.
CHILDREN_SNIPPET = """
result = {}
for stream, doctype in %r.items():
    result[stream] = {}
    for df in frappe.get_meta(doctype).get_table_fields():
        by_parent = {}
        for row in frappe.db.sql(f"select parent, name from `tab{df.options}` where parenttype = %%s and parentfield = %%s order by parent, idx",
                                 (doctype, df.fieldname), as_dict=True):
            by_parent.setdefault(row["parent"], []).append(row["name"])
        result[stream][df.fieldname] = {"child": df.options, "rows": by_parent}
"""
TEN = {"payment_entry": "Payment Entry", "journal_entry": "Journal Entry", "material_request": "Material Request",
       "quotation": "Quotation", "item_price": "Item Price", "employee": "Employee", "project": "Project", "task": "Task",
       "lead": "Lead", "stock_reconciliation": "Stock Reconciliation"}


def test_every_standard_stream_carries_every_child_table_the_database_has(site: Site, connector: Connector):
    run = connector.read(site.config())
    assert run.returncode == 0, run.why()
    want = site.run(CHILDREN_SNIPPET % STREAMS)
    records = run.records()
    problems, filled = [], []
    for stream, tables in want.items():
        read = {r["name"]: r for r in records[stream]}
        for table, spec in tables.items():
            if spec["rows"]:
                filled.append(f"{stream}.{table}")
            wrong = [name for name, record in read.items() if [c.get("name") for c in record.get(table) or []] != spec["rows"].get(name, [])]
            if wrong:
                problems.append(f"{stream}.{table} ({spec['child']}): child rows differ from the database for {len(wrong)} of {len(read)}, e.g. {wrong[:3]}")
    assert len(filled) >= 8, f"only {filled} hold rows on this site: the comparison would prove little"
    assert not problems, "\n".join(problems)


def test_a_catalog_that_deselects_child_tables_makes_no_request_for_them(site: Site, connector: Connector):
    relay = CountingRelay(site.base_url)
    try:
        config = site.config(base_url=relay.url)
        discovered = connector.discover(config)
        catalog_streams = []
        deselected = set()
        for name in ("sales_order", "item", "customer"):
            stream = discovered[name]
            props = stream["json_schema"]["properties"]
            tables = {field for field, prop in props.items() if "array" in str(prop.get("type")) and prop.get("items", {}).get("properties")}
            deselected |= tables
            stream = dict(stream, json_schema=dict(stream["json_schema"], properties={f: p for f, p in props.items() if f not in tables}))
            catalog_streams.append({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite", "primary_key": [["name"]]})
        child_doctypes = set(site.run("result = [df.options for dt in ('Sales Order', 'Item', 'Customer') for df in frappe.get_meta(dt).get_table_fields()]"))
        relay.requests.clear()
        run = connector.run("read", config=config, catalog={"streams": catalog_streams})
        assert run.returncode == 0, run.why()
        asked = {path for path in relay.requests if path.startswith("/api/resource/")}
        assert not {f"/api/resource/{child}" for child in child_doctypes} & asked, sorted(asked)
        assert not any(set(r) & deselected for rs in run.records().values() for r in rs)
        want = expected(site, ["sales_order", "item", "customer"])
        assert all(sorted({r["name"] for r in run.records()[s]}) == want[s]["names"] for s in want)
        relay.requests.clear()  # the same streams whole: their child tables are asked for (the count above can fail)
        whole = connector.read(config, streams=["sales_order"])
        assert whole.returncode == 0 and "/api/resource/Sales Order Item" in relay.requests, sorted(relay.requests)
    finally:
        relay.close()


def test_discover_lists_what_the_user_may_read_and_ten_discovered_doctypes_read_equal_to_the_database(site: Site, connector: Connector):
    started = time.monotonic()
    streams = connector.discover(site.config())
    took = time.monotonic() - started
    listable = site.run("result = frappe.get_all('DocType', filters={'istable': 0, 'issingle': 0, 'is_virtual': 0}, pluck='name')")
    print(f"\n[{site.version}] discover: {len(streams)} streams of {len(listable)} listable DocTypes in {took:.1f} s")
    assert list(streams)[:8] == list(STREAMS), list(streams)[:10]
    assert set(TEN) <= set(streams) and len(streams) >= len(listable) / 2, (len(streams), len(listable))
    assert took < 60, f"discover took {took:.0f} s"
    run = connector.read(site.config(), streams=list(TEN))
    want = expected(site, list(TEN), extra=TEN)
    assert all(want[s]["names"] for s in TEN), {s: len(want[s]["names"]) for s in TEN}
    problems = mismatches(run, want, list(TEN))
    assert run.returncode == 0 and not problems, "\n".join([run.why(), *problems])

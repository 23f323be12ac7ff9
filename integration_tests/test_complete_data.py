"""Complete data: child tables per page, site metadata, deletions, additional DocTypes and server-side filters."""

import collections

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover

from source_erpnext import SourceErpnext

from .test_sync import config_for, enabled, final_state, names, sync

STREAMS = ["item", "bin", "sales_order", "supplier", "customer", "purchase_order", "stock_entry", "warehouse"]


@pytest.fixture(scope="module")
def server():
    from integration_tests.erpnext_server import ErpnextTestServer

    with ErpnextTestServer(items=400, seed=11) as srv:
        yield srv


def child_rows(srv, child: str):
    by_parent = collections.defaultdict(list)
    for row in srv.records(child):
        by_parent[row["parent"]].append(row["name"])
    return by_parent


def test_records_carry_their_child_rows_without_a_request_per_document(server):
    server.reset_stats()
    output = sync(config_for(server, page_size=100), STREAMS, SyncMode.full_refresh)
    requests = server.stats()["requests"]

    for stream, field, child in (
        ("sales_order", "items", "Sales Order Item"),
        ("purchase_order", "items", "Purchase Order Item"),
        ("stock_entry", "items", "Stock Entry Detail"),
        ("item", "reorder_levels", "Item Reorder"),
    ):
        expected = child_rows(server, child)
        records = [m.record.data for m in output.records if m.record.stream == stream]
        assert records
        for record in records:
            assert sorted(row["name"] for row in record[field]) == sorted(expected.get(record["name"], [])), record["name"]
            assert [row["idx"] for row in record[field]] == sorted(row["idx"] for row in record[field])
        assert sum(len(r[field]) for r in records) > 0

    single_document_gets = [path for path in requests if path.count("/") > 3 and path.startswith("/api/resource/")]
    assert single_document_gets == []
    # Metadata is read once per DocType in the run.
    assert requests["/api/method/frappe.desk.form.load.getdoctype"] == len(STREAMS)
    # Child rows: a request per chunk of parent names, and never more than two per page of parents.
    order_pages = requests["/api/resource/Sales Order"]
    assert requests["/api/resource/Sales Order Item"] <= 2 * order_pages


def test_a_deletion_on_the_site_becomes_a_deletion_record_in_the_next_incremental_read(make_erpnext_server):
    srv = make_erpnext_server(items=200, seed=12)
    config = config_for(srv, lookback_window_minutes=0, refresh_open_documents=False)  # exactly what moved `modified`: open orders would come again
    first = sync(config, ["item", "sales_order"])
    gone_item = sorted(enabled(srv, "Item"))[3]
    gone_order = sorted(r["name"] for r in srv.records("Sales Order"))[5]
    srv.delete("Item", gone_item)
    srv.delete("Sales Order", gone_order)

    second = sync(config, ["item", "sales_order"], state=final_state(first))
    deletions = {(m.record.stream, m.record.data["name"]): m.record.data for m in second.records if m.record.data.get("_ab_cdc_deleted_at")}
    assert set(deletions) == {("item", gone_item), ("sales_order", gone_order)}
    for record in deletions.values():
        assert record["modified"] == record["_ab_cdc_deleted_at"]
    assert names(second, "item") == [] and names(second, "sales_order") == []
    # The deletion position is part of the state: a third read emits nothing new.
    third = sync(config, ["item", "sales_order"], state=final_state(second))
    assert [m for m in third.records if m.record.data.get("_ab_cdc_deleted_at")] == []


def test_an_additional_doctype_becomes_a_typed_stream(server):
    config = config_for(server, additional_doctypes=["Company"])
    catalog = discover(SourceErpnext(), config).catalog.catalog
    company = next(s for s in catalog.streams if s.name == "company")
    assert company.json_schema["properties"]["company_name"]["type"] == ["null", "string"]
    assert company.default_cursor_field == ["modified"] and company.source_defined_primary_key == [["name"]]
    output = sync(config, ["company"], SyncMode.full_refresh)
    assert sorted(names(output, "company")) == sorted(r["name"] for r in server.records("Company"))


def test_an_unknown_additional_doctype_is_a_config_error_naming_it(server):
    output = discover(SourceErpnext(), config_for(server, additional_doctypes=["Flux Capacitor"]), expecting_exception=True)
    errors = [e.trace.error for e in output.errors]
    assert errors and "Flux Capacitor" in errors[0].message
    assert errors[0].failure_type.value == "config_error"


def test_filters_are_applied_by_the_site(server):
    warehouses = sorted({r["warehouse"] for r in server.records("Bin")})[:2]
    company = server.records("Sales Order")[0]["company"]
    config = config_for(server, warehouses=warehouses, company=company, submitted_only=True, include_disabled=True)
    server.reset_stats()
    output = sync(config, ["bin", "sales_order", "item"], SyncMode.full_refresh)

    bins = [m.record.data for m in output.records if m.record.stream == "bin"]
    assert {b["name"] for b in bins} == {r["name"] for r in server.records("Bin") if r["warehouse"] in warehouses}
    orders = [m.record.data for m in output.records if m.record.stream == "sales_order"]
    expected = {r["name"] for r in server.records("Sales Order") if r["company"] == company and r["docstatus"] == 1}
    assert {o["name"] for o in orders} == expected
    assert set(names(output, "item")) == {r["name"] for r in server.records("Item")}  # include_disabled keeps them


def test_documents_that_stop_matching_the_filters_become_deletion_records(make_erpnext_server):
    srv = make_erpnext_server(items=200, seed=13)
    config = config_for(srv, lookback_window_minutes=0, submitted_only=True, sync_deletions=False, refresh_open_documents=False)  # exactly what moved `modified`: open orders would come again
    first = sync(config, ["item", "sales_order"])
    disabled_item = sorted(enabled(srv, "Item"))[2]
    cancelled = sorted(r["name"] for r in srv.records("Sales Order") if r["docstatus"] == 1)[0]
    kept_item = sorted(enabled(srv, "Item"))[4]
    srv.edit("Item", disabled_item, disabled=1)
    srv.edit("Sales Order", cancelled, docstatus=2)
    srv.edit("Item", kept_item, item_name="still enabled")

    second = sync(config, ["item", "sales_order"], state=final_state(first))
    emitted = {(m.record.stream, m.record.data["name"]): m.record.data for m in second.records}
    assert {("item", disabled_item), ("sales_order", cancelled), ("item", kept_item)} <= set(emitted)
    assert emitted[("item", disabled_item)]["_ab_cdc_deleted_at"] == emitted[("item", disabled_item)]["modified"]
    assert emitted[("sales_order", cancelled)]["_ab_cdc_deleted_at"]
    assert emitted[("item", kept_item)]["item_name"] == "still enabled" and not emitted[("item", kept_item)].get("_ab_cdc_deleted_at")
    # Anything else read past the saved position is out of scope (a draft order): it can only come as a deletion.
    orders = {r["name"]: r for r in srv.records("Sales Order")}
    for (stream, name), record in emitted.items():
        if (stream, name) not in {("item", disabled_item), ("sales_order", cancelled), ("item", kept_item)}:
            assert stream == "sales_order" and orders[name]["docstatus"] != 1 and record["_ab_cdc_deleted_at"]


def test_deletions_turned_on_later_start_from_the_saved_position(make_erpnext_server):
    srv = make_erpnext_server(items=120, seed=14)
    first = sync(config_for(srv, lookback_window_minutes=0, sync_deletions=False), ["item"])
    gone = sorted(enabled(srv, "Item"))[1]
    srv.delete("Item", gone)
    second = sync(config_for(srv, lookback_window_minutes=0), ["item"], state=final_state(first))
    assert [m.record.data["name"] for m in second.records if m.record.data.get("_ab_cdc_deleted_at")] == [gone]

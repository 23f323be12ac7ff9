"""Column selection (issue: Airbyte platform parity): the configured catalog's json_schema carries only the fields a
user selected; the connector asks the ERPNext test server for those (plus its own: name, modified, creation and the
status fields its deletion logic reads), fetches a child table only when its field is selected, and emits records that
hold only the selected fields."""

import json
import logging

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer
from source_erpnext import SourceErpnext

SELECTED = {
    "sales_order": ["name", "modified", "customer", "grand_total", "status"],
    "item": ["name", "modified", "item_name", "stock_uom", "reorder_levels"],
}
OWN = {"name", "modified", "creation", "disabled", "docstatus"}


@pytest.fixture(scope="module")
def server():
    with ErpnextTestServer(items=120, seed=3) as srv:
        yield srv


def config(srv):
    return {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": 50, "max_concurrency": 1}


def catalog(srv, selected=None):
    discovered = {s.name: s for s in SourceErpnext().discover(logging.getLogger("airbyte"), config(srv)).streams}
    streams = []
    for name in SELECTED:
        stream = discovered[name]
        if selected:
            properties = stream.json_schema["properties"]
            kept = {f: properties[f] for f in selected[name]}
            if "reorder_levels" in kept:  # and of the child table, two columns
                items = kept["reorder_levels"]["items"]
                kept["reorder_levels"] = {**kept["reorder_levels"], "items": {**items, "properties": {c: items["properties"][c] for c in ("warehouse", "warehouse_reorder_level")}}}
            stream.json_schema = {**stream.json_schema, "properties": kept}
        streams.append(ConfiguredAirbyteStream(stream=stream, sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.overwrite))
    return ConfiguredAirbyteCatalog(streams=streams)


def sync(srv, selected=None):
    configured = catalog(srv, selected)
    srv.request_log = []
    output = read(SourceErpnext(), config(srv), configured)
    assert not output.errors, [e.trace.error.message for e in output.errors]
    records = {}
    for message in output.records:
        records.setdefault(message.record.stream, []).append(message.record.data)
    return records, list(srv.request_log)


def list_fields(log, path):
    return [json.loads(query["fields"]) for p, query in log if p == path and "fields" in query and "limit_start" not in query]


def test_requests_name_only_the_selected_fields_and_the_connectors_own(server):
    _, log = sync(server, SELECTED)
    for path, stream in (("/api/resource/Sales Order", "sales_order"), ("/api/resource/Item", "item")):
        asked = list_fields(log, path)
        assert asked, f"no list request for {path}"
        for fields in asked:
            assert set(fields) <= (set(SELECTED[stream]) | OWN) - {"reorder_levels"}, fields
            assert set(SELECTED[stream]) - {"reorder_levels"} <= set(fields)
    reorder = list_fields(log, "/api/resource/Item Reorder")
    assert reorder and all(set(f) == {"warehouse", "warehouse_reorder_level", "name", "parent", "idx"} for f in reorder)
    assert not [p for p, _ in log if p == "/api/resource/Sales Order Item"]  # `items` not selected: never fetched


def test_records_hold_only_the_selected_fields(server):
    records, _ = sync(server, SELECTED)
    full, _ = sync(server)
    for stream, fields in SELECTED.items():
        assert len(records[stream]) == len(full[stream]) > 0
        by_name = {r["name"]: r for r in full[stream]}
        for record in records[stream]:
            assert set(record) <= set(fields), set(record) - set(fields)
            assert {f: record.get(f) for f in fields if f != "reorder_levels"} == {f: by_name[record["name"]].get(f) for f in fields if f != "reorder_levels"}
    levels = [row for r in records["item"] for row in r.get("reorder_levels", [])]
    assert levels and all({"warehouse", "warehouse_reorder_level"} <= set(row) for row in levels)


def test_with_everything_selected_nothing_changes(server):
    records, log = sync(server)
    assert all(fields == ["*"] for fields in list_fields(log, "/api/resource/Sales Order") + list_fields(log, "/api/resource/Item"))
    assert [p for p, _ in log if p == "/api/resource/Sales Order Item"]
    # The same records as a catalog that says nothing of fields (an empty json_schema) reads.
    builder = CatalogBuilder()
    for name in SELECTED:
        builder = builder.with_stream(name, SyncMode.full_refresh)
    plain = read(SourceErpnext(), config(server), builder.build())
    assert records == {s: [m.record.data for m in plain.records if m.record.stream == s] for s in SELECTED}
    assert all("items" in r for r in records["sales_order"])

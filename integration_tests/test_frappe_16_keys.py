"""Frappe 16 indexes `creation`, and `modified` only for DocTypes sorted by it or given the index by hand: the
connector reads pages over `creation` there, finds changes in one scan of the table a sync, and loses nothing.

The test server counts the requests a table without a `modified` index would answer by a scan of the whole table
(a sort on `modified`, a count bounded by it)."""

import collections
import logging

import pytest
from airbyte_cdk.models import SyncMode

from integration_tests.test_sync import config_for, enabled, final_state, latest_records, live, names, sync

STREAMS = ["item", "sales_order"]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_full_refresh_on_frappe_16_reads_over_creation_without_a_table_scan_and_emits_each_document_once(make_erpnext_server, concurrency):
    srv = make_erpnext_server(items=1200, seed=41, frappe_version=16)
    srv.mutate_every = 5  # edits and deletions while it reads
    output = sync(config_for(srv, page_size=50, max_concurrency=concurrency), STREAMS, SyncMode.full_refresh)
    srv.mutate_every = None
    for stream, doctype in (("item", "Item"), ("sales_order", "Sales Order")):
        counts = collections.Counter(names(output, stream))
        assert not [n for n, c in counts.items() if c > 1], f"{stream}: documents emitted twice"
        assert set(live(srv, doctype)) <= set(counts), f"{stream}: documents missing"
    assert not srv.stats()["scans"], "a full refresh on Frappe 16 should need no table scan"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_edits_during_a_first_sync_over_creation_reach_the_destination_with_the_next_sync(make_erpnext_server, concurrency):
    srv = make_erpnext_server(items=800, seed=42, frappe_version=16)
    config = config_for(srv, page_size=40, lookback_window_minutes=0, max_concurrency=concurrency)
    srv.mutate_every = 4  # an edit every 4th request, a deletion every 12th: documents read already get edited
    first = sync(config, STREAMS)
    srv.mutate_every = None
    first_scans = srv.stats()["scans"]
    srv.reset_stats()
    second = sync(config, STREAMS, state=final_state(first))
    held = latest_records(first, second)
    for stream, doctype in (("item", "Item"), ("sales_order", "Sales Order")):
        server = live(srv, doctype)
        assert set(held[stream]) == set(server), f"{stream}: the destination would not match the site"
        stale = [n for n, r in held[stream].items() if r["modified"] != server[n]["modified"]]
        assert not stale, f"{stream}: old versions left for {stale[:5]}"
    # A first sync scans for the newest `modified` and for the changes made while it read (names, then empty pages);
    # the next sync for the changes since (names, and the empty page that ends them): a constant, not a scan a page.
    assert max(first_scans.values()) <= 4 and max(srv.stats()["scans"].values()) <= 3, (first_scans, srv.stats()["scans"])


def test_an_incremental_sync_on_frappe_16_finds_edits_and_new_documents_in_a_constant_number_of_scans(make_erpnext_server):
    srv = make_erpnext_server(items=3000, seed=43, frappe_version=16)
    config = config_for(srv, page_size=100, lookback_window_minutes=0, refresh_open_documents=False)
    first = sync(config, ["item"])
    items = sorted(enabled(srv, "Item"))
    edited = items[::15]  # 200 older documents edited, spread over the table
    for name in edited:
        srv.edit("Item", name)
    srv.reset_stats()
    second = sync(config, ["item"], state=final_state(first))
    assert set(names(second, "item")) == set(edited)
    assert srv.stats()["scans"] == {"Item": 2}, srv.stats()["scans"]  # one names page, one empty page that ends it
    # the documents themselves come by name: pages of 100
    assert srv.stats()["record_pages"]["/api/resource/Item"] == -(-len(edited) // 100)


def test_a_modified_index_added_by_hand_is_used_and_the_log_says_which_tables_lack_one(make_erpnext_server, caplog):
    srv = make_erpnext_server(items=300, seed=44, frappe_version=16)
    srv.modified_indexes.add("Item")  # bench add-database-index --doctype Item --column modified
    srv.request_log = []
    with caplog.at_level(logging.INFO):
        sync(config_for(srv, page_size=50), STREAMS, SyncMode.full_refresh)
    orders = {path: params.get("order_by") for path, params in srv.request_log if path.startswith("/api/resource/") and "fields" in params and '"*"' in params["fields"]}
    assert orders["/api/resource/Item"] == "modified asc, name asc"
    assert orders["/api/resource/Sales Order"] == "creation asc, name asc"
    notes = [r.getMessage() for r in caplog.records if "has no index on `modified`" in r.getMessage()]
    assert any(n.startswith("Sales Order has no index") and "add-database-index --doctype \"Sales Order\" --column modified" in n for n in notes)
    assert not any(n.startswith("Item ") for n in notes)

    srv.property_setters_readable = False  # a user who may not read Property Setter: creation, and the log says why
    caplog.clear()
    with caplog.at_level(logging.INFO):
        output = sync(config_for(srv, page_size=50), ["item"], SyncMode.full_refresh)
    assert set(names(output, "item")) == set(enabled(srv, "Item"))
    assert any("may not read Property Setter" in r.getMessage() for r in caplog.records)


def test_a_first_sync_over_creation_resumes_from_any_state_without_losing_a_document(make_erpnext_server):
    srv = make_erpnext_server(items=400, seed=45, frappe_version=16)
    config = config_for(srv, page_size=50, lookback_window_minutes=0, sync_deletions=False, max_concurrency=4)
    output = sync(config, ["item"])
    everything = set(enabled(srv, "Item"))
    seen = []
    states = 0
    for message in output.records_and_state_messages:
        if message.type.value == "RECORD":
            seen.append(message.record.data["name"])
            continue
        states += 1
        resumed = sync(config, ["item"], state=[message.state])
        assert set(seen) | set(names(resumed, "item")) == everything
    assert states >= 400 // 50


def test_a_first_sync_over_creation_emits_documents_saved_just_before_it_once(make_erpnext_server):
    """Its pass over changes starts a lookback window before the newest `modified` (for commit lag), where it meets
    documents the `creation` pages read already: a destination that deduplicates only across syncs (PyAirbyte's
    caches) would hold them twice."""
    srv = make_erpnext_server(items=300, seed=46, frappe_version=16)
    items = sorted(enabled(srv, "Item"))
    for name in items[::10]:
        srv.edit("Item", name)  # saved just now: inside the 5-minute lookback of the newest `modified`
    output = sync(config_for(srv, page_size=50), ["item"])
    counts = collections.Counter(names(output, "item"))
    assert set(counts) == set(enabled(srv, "Item"))
    assert not [n for n, c in counts.items() if c > 1], "documents emitted twice"

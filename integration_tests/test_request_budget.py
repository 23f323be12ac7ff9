"""Request budget of a full-refresh sync of every stream, counted by the ERPNext test server (not timed).

A regression here means the connector talks to ERPNext more than it needs to: extra list pages, child rows
fetched per parent instead of per page of parents, repeated metadata requests, per-document GETs or writes.
Both the sequential read (max_concurrency 1) and the concurrent one (4) must stay within the budget.
"""

import json
import logging
import math
import time
from urllib.parse import quote_plus

import pytest
from airbyte_cdk.models import SyncMode, Type
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer
from source_erpnext import SourceErpnext
from source_erpnext.doctypes import STANDARD_DOCTYPES

ITEMS = 300  # about 1,200 documents and 1,100 child rows
PAGE_SIZE = 100
META_PATH = "/api/method/frappe.desk.form.load.getdoctype"


def chunks_needed(names):
    """How many `parent in [...]` requests a page with these names needs, at most: each request line has room for
    2,500 bytes of percent-encoded names under gunicorn's 4,094-byte limit."""
    return math.ceil(len(quote_plus(json.dumps(list(names)))) / 2500)


@pytest.fixture(scope="module", params=[1, 4], ids=["max_concurrency=1", "max_concurrency=4"])
def synced(request):
    with ErpnextTestServer(items=ITEMS, seed=1) as srv:
        return sync(srv, request.param)


def sync(srv, max_concurrency):
    config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": PAGE_SIZE,
              "max_concurrency": max_concurrency}
    builder = CatalogBuilder()
    for doctype in STANDARD_DOCTYPES:
        builder = builder.with_stream(doctype.stream, SyncMode.full_refresh)
    srv.reset_stats()
    output = read(SourceErpnext(), config, builder.build())
    assert not output.errors, [error.trace.error.message for error in output.errors]
    names = {}
    for message in output.records:
        names.setdefault(message.record.stream, []).append(message.record.data["name"])
    return srv.stats(), names


def test_every_stream_is_read(synced):
    _, names = synced
    for doctype in STANDARD_DOCTYPES:
        assert names.get(doctype.stream), f"stream {doctype.stream} returned no records"
        assert len(names[doctype.stream]) == len(set(names[doctype.stream])), f"stream {doctype.stream} repeats records"


def test_list_requests_per_stream_at_most_two_more_than_the_pages(synced, request):
    stats, names = synced
    concurrency = request.node.callspec.params["synced"]
    for doctype in STANDARD_DOCTYPES:
        records = len(names.get(doctype.stream, []))
        sent = stats["requests"].get(f"/api/resource/{doctype.doctype}", 0)
        # One more: a full refresh's final pass, for documents saved while it read (empty here).
        bound = math.ceil(records / PAGE_SIZE) + 2
        if concurrency > 1:
            # Splitting a large DocType into ranges costs a constant: a boundary lookup and a last partial page per
            # range, and the final pass after the ranges.
            bound += 2 * concurrency + 1
        assert 1 <= sent <= bound, f"{doctype.stream}: {sent} list requests for {records} records"


def test_child_rows_are_fetched_per_page_of_parents(synced):
    stats, names = synced
    for doctype in STANDARD_DOCTYPES:
        parents = names.get(doctype.stream, [])
        # Worst case per full page: the page holds the longest names; the last page may be partial.
        longest = sorted(parents, key=len, reverse=True)[:PAGE_SIZE]
        per_page = chunks_needed(longest)
        pages = math.ceil(len(parents) / PAGE_SIZE)
        for child in doctype.child_tables.values():
            sent = stats["requests"].get(f"/api/resource/{child}", 0)
            needed = pages * per_page
            # Each chunk may take one more request: the PageSizeProbe confirms a child page longer than any page
            # seen so far (it cannot tell a short last page from a site that caps its page size).
            assert 1 <= sent <= 2 * needed, f"{child}: {sent} requests for {pages} pages of {doctype.stream} ({needed} chunks)"


def test_every_request_line_fits_gunicorns_limit(synced):
    stats, _ = synced
    assert 0 < stats["longest_request_line"] <= 4094


def test_one_metadata_request_per_stream(synced):
    stats, _ = synced
    assert stats["requests"].get(META_PATH, 0) == len(STANDARD_DOCTYPES)


def test_no_single_document_reads_and_no_writes(synced):
    stats, _ = synced
    assert stats["non_get"] == 0
    documents = {path: n for path, n in stats["requests"].items() if path.startswith("/api/resource/") and path.count("/") > 3}
    assert documents == {}, f"single-document GETs: {documents}"


def test_readers_wait_for_a_paused_output_instead_of_reading_ahead():
    """Memory stays flat because readers do not run ahead of the output: while the consumer of the messages is
    paused, the pages fetched stay within a constant set by max_concurrency, however large the streams."""
    concurrency, page_size = 4, 50
    with ErpnextTestServer(items=ITEMS, seed=1) as srv:
        config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": page_size,
                  "max_concurrency": concurrency, "sync_deletions": False}
        builder = CatalogBuilder()
        for doctype in STANDARD_DOCTYPES:  # incremental: a state message after every page, so a batch is one page
            builder = builder.with_stream(doctype.stream, SyncMode.incremental)
        messages = SourceErpnext().read(logging.getLogger("airbyte"), config, builder.build(), state=None)
        try:
            records = 0
            for message in messages:
                records += message.type == Type.RECORD
                if records == 1:
                    break
            time.sleep(1.5)  # readers run ahead as far as they may
            fetched = sum(srv.stats()["record_pages"].values())
            # The page being output and the batch queued for it; `concurrency` pages fetched and not handed on, and
            # half as many of streams with several child tables; and per stream read in ranges (at most `concurrency`
            # at once) one page queued for it and one being turned into messages.
            assert fetched <= 2 + concurrency + concurrency // 2 + 2 * concurrency, f"{fetched} pages fetched while the output waited"

            records += sum(message.type == Type.RECORD for message in messages)  # then the read completes
        finally:
            messages.close()  # a failed assertion must not leave the readers waiting
        assert records > ITEMS * 3
        assert sum(srv.stats()["record_pages"].values()) > 3 * fetched


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("stream", ["sales_order", "bin"])
def test_a_stream_keeps_the_request_slots_busy_with_fewer_pages_of_many_tables(stream, concurrency):
    """Half as many pages with several child tables are decoded at once as there are request slots (memory), and their
    tables are read side by side; so one stream, with six child tables or none, keeps `max_concurrency` requests in
    flight, never more."""
    with ErpnextTestServer(items=ITEMS, seed=1, latency=0.02) as srv:
        config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": 50,
                  "max_concurrency": concurrency, "sync_deletions": False}
        output = read(SourceErpnext(), config, CatalogBuilder().with_stream(stream, SyncMode.full_refresh).build())
        assert not output.errors
        assert len(output.records) > 2 * 50
        assert srv.stats()["most_in_flight"] == concurrency

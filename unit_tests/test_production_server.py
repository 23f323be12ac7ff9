"""What a production Frappe (gunicorn behind nginx, Frappe's rate limit) does to requests, and what the connector does
about it: every request line fits gunicorn's 4,094 bytes, refusals are split or explained with the server's own words,
and a used-up rate limit stops the sync with its state instead of retrying for an hour. The site is requests-mock,
answering as gunicorn and Frappe answer."""

import json
import math
import random
import re
import types
from typing import Any, Dict, List
from urllib.parse import quote_plus, urlsplit

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_erpnext import SourceErpnext
from source_erpnext import http as erp_http

from .conftest import BASE_URL, CONFIG, query, run_read

ITEMS = f"{BASE_URL}/api/resource/Item"
REORDER = f"{BASE_URL}/api/resource/Item%20Reorder"
SUPPLIERS = f"{BASE_URL}/api/resource/Supplier"
GUNICORN_LIMIT = 4094
# Characters real catalogues put in item codes, and that URLs and Frappe's filter syntax treat specially.
ODD = " ,/\"'%&#+\\?=;:~()[]{}éüñ日本€"


def request_line(request) -> int:
    url = urlsplit(request.url)
    return len(f"GET {url.path}?{url.query} HTTP/1.1")


def gunicorn_400(line: int, limit: int) -> str:
    """gunicorn.util.write_error for LimitRequestLine."""
    message = f"Request Line is too large ({line} > {limit})"
    return f"<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n    {message}\n  </body>\n</html>\n"


def odd_names(count: int, seed: int) -> List[str]:
    rng = random.Random(seed)
    names = set()
    while len(names) < count:
        length = rng.choice([1, 5, 12, 30, 60, 100, 140])
        name = "".join(rng.choice(ODD + "ABCXYZ0123456789") for _ in range(length)).strip() or "X"
        names.add(name)
    return sorted(names)


class ChildSite:
    """A site with one page of items, each with two reorder rows; the child-row endpoint filters as Frappe does
    (an `in` value is a list, or a string Frappe splits on commas and strips) and refuses long lines as gunicorn does."""

    def __init__(self, mock, names: List[str], limit: int = GUNICORN_LIMIT):
        self.limit, self.lines, self.refused = limit, [], 0
        rows_of = lambda i: 1 + (i * 7) % 4  # noqa: E731 (1 to 4 rows, varying as real documents do)
        self.children = {name: [{"name": f"row-{i:05d}-{j}", "parent": name, "idx": rows_of(i) - j, "warehouse": f"W{j}"} for j in range(rows_of(i))] for i, name in enumerate(names)}
        items = [{"name": n, "item_code": n, "modified": "2024-01-01 00:00:00", "disabled": 0} for n in names]
        mock.get(ITEMS, [{"json": {"data": items}}, {"json": {"data": []}}])
        mock.get(REORDER, text=self.answer)

    def answer(self, request, context) -> str:
        line = request_line(request)
        self.lines.append(line)
        if line > self.limit:
            self.refused += 1
            context.status_code, context.headers["Content-Type"] = 400, "text/html"
            return gunicorn_400(line, self.limit)
        params = query(request)
        value = next(f[2] for f in params["filters"] if f[0] == "parent")
        parents = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
        after = next((f[2] for f in params["filters"] if f[0] == "name"), "")
        rows = sorted((row for p in parents for row in self.children.get(p, []) if row["name"] > after), key=lambda row: row["name"])
        return json.dumps({"data": rows[: int(params["limit_page_length"])]})


def read_items(config: Dict[str, Any]):
    return run_read({**config, "sync_deletions": False}, "item", SyncMode.full_refresh)


@pytest.mark.parametrize("page_size", [100, 500, 1000])
@pytest.mark.parametrize("kind", ["short", "long", "odd"])
def test_child_requests_fit_gunicorns_request_line_whatever_the_names(no_metadata, page_size, kind):
    if kind == "short":
        names = [f"ITEM-{i:05d}" for i in range(page_size)]
    elif kind == "long":
        names = [f"{'LONG-CATALOGUE-CODE-' * 6}{i:06d}" for i in range(page_size)]  # 126 characters
    else:
        names = odd_names(page_size, seed=page_size)
    site = ChildSite(no_metadata, names)
    output = read_items({**CONFIG, "page_size": page_size})
    assert not output.errors, [e.trace.error.message for e in output.errors]
    records = {r.record.data["name"]: r.record.data for r in output.records}
    assert set(records) == set(names)
    for name in names:  # every parent has exactly its rows, in idx order
        assert [row["name"] for row in records[name]["reorder_levels"]] == [row["name"] for row in sorted(site.children[name], key=lambda r: r["idx"])]
    longest = max(request_line(r) for r in no_metadata.request_history)
    assert longest <= GUNICORN_LIMIT and site.refused == 0
    # As few child requests as the limit allows: every run of names but a page's last fills its line to within a
    # name's length (the shortest two lines: the last run and its follow-up).
    assert all(line > GUNICORN_LIMIT - 1500 for line in sorted(site.lines)[2:]), sorted(site.lines)
    # No more requests than the names' encoded bytes need at ~3,700 bytes a line less the longest name (a run ends
    # when the next name does not fit), and one empty follow-up (a child page is taken as the last once the stream
    # has seen a longer page, see PageSizeProbe).
    costs = [len(quote_plus(json.dumps(n))) for n in names]
    assert len(site.lines) <= math.ceil(sum(costs) / (3700 - max(costs))) + 1, (len(site.lines), sum(costs))


def test_a_stricter_server_that_refuses_a_request_for_its_length_gets_it_split(no_metadata):
    names = [f"{'CODE-' * 10}{i:05d}" for i in range(300)]
    site = ChildSite(no_metadata, names, limit=2000)
    output = read_items({**CONFIG, "page_size": 300})
    assert not output.errors, [e.trace.error.message for e in output.errors]
    records = {r.record.data["name"]: r.record.data for r in output.records}
    assert set(records) == set(names)
    assert all(len(records[n]["reorder_levels"]) == len(site.children[n]) for n in names)  # none lost, none twice after re-reads
    assert site.refused == 1  # gunicorn's refusal names its limit: the rest of the run keeps under it


def test_a_list_request_refused_for_its_length_says_why_in_the_servers_words(no_metadata):
    warehouses = [f"Warehouse number {i} - A Very Long Company Abbreviation" for i in range(120)]

    def bins(request, context):
        context.status_code, context.headers["Content-Type"] = 400, "text/html"
        return gunicorn_400(request_line(request), GUNICORN_LIMIT)

    no_metadata.get(f"{BASE_URL}/api/resource/Bin", text=bins)
    output = run_read({**CONFIG, "warehouses": warehouses, "sync_deletions": False}, "bin", SyncMode.full_refresh, expect_failure=True)
    messages = [e.trace.error.message for e in output.errors if e.trace.error.stream_descriptor]
    assert messages and "Request Line is too large (" in messages[0] and "> 4094)" in messages[0]
    assert "warehouses" in messages[0] and "<h1>" not in messages[0]


def test_an_error_page_that_is_not_json_is_shown_as_text(no_metadata):
    page = "<html><head><title>Forbidden</title><style>p{}</style></head><body><h1>Access denied</h1><p>Blocked by the site&#39;s firewall rule 42</p></body></html>"
    no_metadata.get(SUPPLIERS, status_code=418, text=page, headers={"Content-Type": "text/html"})
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier", expect_failure=True)
    message = next(e.trace.error.message for e in output.errors if e.trace.error.stream_descriptor)
    assert "418" in message and "Access denied Blocked by the site's firewall rule 42" in message
    assert "<" not in message and "p{}" not in message


def test_child_rows_and_each_stream_learn_from_their_own_pages(no_metadata):
    """A short page ends a listing only once that listing has returned a longer one; another stream's pages teach
    it nothing, so request counts do not depend on which stream was read first."""
    items = [{"name": f"ITEM-{i:03d}", "modified": f"2024-01-01 00:00:{i % 60:02d}", "disabled": 0} for i in range(100)]
    no_metadata.get(ITEMS, [{"json": {"data": items}}, {"json": {"data": []}}])
    no_metadata.get(REORDER, json={"data": []})
    no_metadata.get(SUPPLIERS, [{"json": {"data": [{"name": "SUP-1", "modified": "2024-01-01 00:00:00", "disabled": 0}]}}, {"json": {"data": []}}])
    catalog = CatalogBuilder().with_stream("item", SyncMode.full_refresh).with_stream("supplier", SyncMode.full_refresh).build()
    output = read(SourceErpnext(), {**CONFIG, "page_size": 100, "max_concurrency": 1, "sync_deletions": False}, catalog)
    assert not output.errors
    sent = lambda path: sum(r.path == path for r in no_metadata.request_history)  # noqa: E731
    # item: a full page, then an empty one. Its child rows: one request (empty is conclusive). supplier, read after
    # item: its short page is not taken as the last on the strength of item's full page.
    assert (sent("/api/resource/item"), sent("/api/resource/item%20reorder"), sent("/api/resource/supplier")) == (2, 1, 2)


# -- Frappe's rate limit (frappe/rate_limiter.py) ------------------------------------------------------------------------


def test_a_used_up_rate_limit_stops_at_once_with_the_state_saved_and_says_when_it_resets(no_metadata, monkeypatch):
    slept = []
    monkeypatch.setattr("time.sleep", slept.append)
    page1 = [{"name": "SUP-1", "modified": "2024-01-01 00:00:00", "disabled": 0}]
    headers = {"Retry-After": "2777", "X-RateLimit-Reset": "2777", "X-RateLimit-Limit": "600000000", "X-RateLimit-Remaining": "0"}
    no_metadata.get(SUPPLIERS, [{"json": {"data": page1}}, {"status_code": 429, "text": "Too Many Requests", "headers": headers}])
    output = run_read({**CONFIG, "page_size": 1, "max_concurrency": 1, "sync_deletions": False}, "supplier", expect_failure=True)
    assert sum(r.path == "/api/resource/supplier" for r in no_metadata.request_history) == 2  # no retries
    assert not [s for s in slept if s >= 1]
    error = next(e.trace.error for e in output.errors if e.trace.error.stream_descriptor)
    assert error.failure_type == FailureType.transient_error
    assert "rate limit" in error.message and "46 minutes" in error.message and "UTC" in error.message
    assert "600 s of server time" in error.message and "fewer streams" in error.message
    assert output.state_messages[-1].state.stream.stream_state.__dict__["name"] == "SUP-1"  # the next sync goes on from there


def test_a_short_rate_limit_wait_is_waited_out(no_metadata, monkeypatch):
    slept = []
    monkeypatch.setattr("airbyte_cdk.sources.streams.http.rate_limiting.time.sleep", slept.append)
    rows = [{"name": "SUP-1", "modified": "2024-01-01 00:00:00", "disabled": 0}]
    no_metadata.get(SUPPLIERS, [{"status_code": 429, "text": "Too Many Requests", "headers": {"Retry-After": "30"}}, {"json": {"data": rows}}, {"json": {"data": []}}])
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier")
    assert [r.record.data["name"] for r in output.records] == ["SUP-1"]
    assert any(30 <= wait <= 31 for wait in slept), slept


def test_requests_slow_down_before_the_rate_limit_is_reached(no_metadata, monkeypatch):
    waits, clock = [], [1000.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(erp_http, "time", types.SimpleNamespace(monotonic=lambda: clock[0], sleep=sleep))
    pages = []
    for i, remaining in enumerate([500_000_000, 200_000_000, 100_000_000, 100_000_000]):  # µs left of a 600 s budget
        rows = [{"name": f"SUP-{i}", "modified": f"2024-01-0{i + 1} 00:00:00", "disabled": 0}]
        headers = {"X-RateLimit-Limit": "600000000", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Used": "2000000", "X-RateLimit-Reset": "1000"}
        pages.append({"json": {"data": rows if i < 3 else []}, "headers": headers})
    no_metadata.get(SUPPLIERS, pages)
    output = run_read({**CONFIG, "page_size": 1, "max_concurrency": 1, "sync_deletions": False}, "supplier")
    assert len(output.records) == 3
    # Plenty left after the first answer: no wait. Then 198 s of server time left for 1000 s at 2 s a request: about
    # 10 s between requests; then 98 s left: about 20 s.
    assert len(waits) == 2 and 9 < waits[0] < 11 and 19 < waits[1] < 22, waits
    assert any("rate limit" in m.log.message for m in output.logs)


def test_the_error_handler_names_length_refusals_of_every_kind():
    """gunicorn's 400, nginx's 414 and a 431 are length refusals; a plain 400 from Frappe is not."""
    import requests

    def response(status, body):
        r = requests.Response()
        r.status_code, r._content, r.url = status, body.encode(), f"{ITEMS}?x=1"
        r.headers["Content-Type"] = "text/html"
        r.request = requests.Request("GET", r.url).prepare()
        return r

    handler = erp_http.FrappeErrorHandler(logger=__import__("logging").getLogger("test"), doctype="Item", splittable=True)
    assert handler.interpret_response(response(400, gunicorn_400(5000, 4094))).response_action.name == "SPLIT_REQUEST_WINDOW"
    assert handler.interpret_response(response(414, "<h1>414 Request-URI Too Large</h1>")).response_action.name == "SPLIT_REQUEST_WINDOW"
    assert handler.interpret_response(response(431, "Request Header Fields Too Large")).response_action.name == "SPLIT_REQUEST_WINDOW"
    assert handler.interpret_response(response(400, "Bad Request: missing parameter")).response_action.name == "FAIL"
    assert re.search(r"request line was [\d,]+ bytes", handler.interpret_response(response(414, "too long")).error_message)


def test_selecting_columns_of_a_stream_reads_each_selected_table_of_its_doctype(requests_mock):
    """The site's Sales Order has more tables than `items` (taxes, ...): the stream reads every one the catalog selects,
    each asked for its selected columns."""
    from airbyte_cdk.models import AirbyteStream, ConfiguredAirbyteCatalog, ConfiguredAirbyteStream, DestinationSyncMode

    meta = [
        {"name": "Sales Order", "is_submittable": 1, "fields": [
            {"fieldname": "customer", "fieldtype": "Link"}, {"fieldname": "grand_total", "fieldtype": "Currency"},
            {"fieldname": "items", "fieldtype": "Table", "options": "Sales Order Item"},
            {"fieldname": "taxes", "fieldtype": "Table", "options": "Sales Taxes and Charges"}]},
        {"name": "Sales Order Item", "istable": 1, "fields": [{"fieldname": "item_code", "fieldtype": "Link"}, {"fieldname": "qty", "fieldtype": "Float"}]},
        {"name": "Sales Taxes and Charges", "istable": 1, "fields": [{"fieldname": "rate", "fieldtype": "Float"}]},
    ]
    requests_mock.get(f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype", json={"docs": meta})
    order = {"name": "SO-1", "modified": "2024-01-01 00:00:00", "creation": "2024-01-01 00:00:00", "docstatus": 1, "customer": "C", "grand_total": 5}
    orders = requests_mock.get(f"{BASE_URL}/api/resource/Sales%20Order", [{"json": {"data": [order]}}, {"json": {"data": []}}])
    line = {"name": "r1", "parent": "SO-1", "idx": 1, "item_code": "I"}
    lines = requests_mock.get(f"{BASE_URL}/api/resource/Sales%20Order%20Item", [{"json": {"data": [line]}}, {"json": {"data": []}}])
    tax = {"name": "t1", "parent": "SO-1", "idx": 1, "rate": 5.0}
    taxes = requests_mock.get(f"{BASE_URL}/api/resource/Sales%20Taxes%20and%20Charges", [{"json": {"data": [tax]}}, {"json": {"data": []}}])
    source = SourceErpnext()
    schema = next(s for s in source.streams(CONFIG) if s.name == "sales_order").get_json_schema()
    selected = {k: schema["properties"][k] for k in ("name", "modified", "customer", "items", "taxes")}
    selected["items"] = {**selected["items"], "items": {**selected["items"]["items"], "properties": {"item_code": {"type": ["null", "string"]}}}}
    stream = AirbyteStream(name="sales_order", json_schema={**schema, "properties": selected}, supported_sync_modes=[SyncMode.full_refresh])
    catalog = ConfiguredAirbyteCatalog(streams=[ConfiguredAirbyteStream(stream=stream, sync_mode=SyncMode.full_refresh, destination_sync_mode=DestinationSyncMode.overwrite)])
    output = read(source, {**CONFIG, "max_concurrency": 1}, catalog)
    assert not output.errors, [e.trace.error.message for e in output.errors]
    assert [r.record.data for r in output.records] == [{"name": "SO-1", "modified": "2024-01-01 00:00:00", "customer": "C", "items": [{"name": "r1", "parent": "SO-1", "idx": 1, "item_code": "I"}], "taxes": [tax]}]
    assert set(query(orders.request_history[0])["fields"]) == {"name", "modified", "creation", "docstatus", "customer"}
    assert query(lines.request_history[0])["fields"] == ["name", "parent", "idx", "item_code"]
    assert "rate" in query(taxes.request_history[0])["fields"] and query(taxes.request_history[0])["filters"][1] == ["parentfield", "=", "taxes"]


def test_a_site_that_ignores_the_child_rows_name_filter_fails_instead_of_looping(no_metadata):
    items = [{"name": "ITEM-1", "modified": "2024-01-01 00:00:00", "disabled": 0}]
    no_metadata.get(ITEMS, [{"json": {"data": items}}, {"json": {"data": []}}])
    rows = [{"name": f"r{i}", "parent": "ITEM-1", "idx": i} for i in range(4)]  # a full child page (1 page x 4), always
    no_metadata.get(REORDER, json={"data": rows})
    output = run_read({**CONFIG, "page_size": 1, "max_concurrency": 1, "sync_deletions": False}, "item", SyncMode.full_refresh, expect_failure=True)
    assert any("did not move past 'r3'" in e.trace.error.message for e in output.errors), [e.trace.error.message for e in output.errors]
    assert sum(r.path == "/api/resource/item%20reorder" for r in no_metadata.request_history) == 2

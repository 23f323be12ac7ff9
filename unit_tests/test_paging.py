"""Request parameters, keyset paging positions and state, against requests-mock."""

from pathlib import Path

from airbyte_cdk.models import SyncMode

from .conftest import BASE_URL, CONFIG, query, run_read

SUPPLIERS = f"{BASE_URL}/api/resource/Supplier"


def list_queries(mock) -> list:
    return [query(r) for r in mock.request_history if r.path == "/api/resource/supplier"]


def last_list(mock) -> dict:
    return list_queries(mock)[-1]


def supplier(i: int, modified: str) -> dict:
    return {"name": f"SUP-{i:03d}", "supplier_name": f"Supplier {i}", "modified": modified, "disabled": 0}


def test_first_request_asks_for_keyset_order_page_size_and_filters(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": []})
    run_read({**CONFIG, "page_size": 250}, "supplier")
    params = last_list(no_metadata)
    assert params["order_by"] == "modified asc, name asc"
    assert params["limit_page_length"] == "250"
    assert params["fields"] == ["*"]
    # Disabled suppliers skipped by default; a condition on `modified` lets MariaDB read the page from its index.
    assert params["filters"] == [["disabled", "=", 0], ["modified", ">=", "0001-01-01 00:00:00.000000"]]
    assert "or_filters" not in params
    assert no_metadata.request_history[0].headers["Authorization"] == "token unit-key:unit-secret"


def test_include_disabled_and_start_date_become_server_filters(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": []})
    run_read({**CONFIG, "include_disabled": True, "start_date": "2024-03-01"}, "supplier")
    assert last_list(no_metadata)["filters"] == [["modified", ">=", "2024-03-01 00:00:00.000000"]]


def test_next_page_starts_after_the_last_row_of_the_previous_one(no_metadata):
    page1 = [supplier(1, "2024-01-01 10:00:00"), supplier(2, "2024-01-01 10:00:00.250000")]
    no_metadata.get(SUPPLIERS, [{"json": {"data": page1}}, {"json": {"data": [supplier(3, "2024-01-02 00:00:00")]}}])
    output = run_read({**CONFIG, "page_size": 2}, "supplier")
    lists = [query(r) for r in no_metadata.request_history if r.path == "/api/resource/supplier"]
    assert len(lists) == 2
    assert lists[1]["filters"][-1] == ["modified", ">=", "2024-01-01 10:00:00.250000"]
    assert lists[1]["or_filters"] == [["modified", ">", "2024-01-01 10:00:00.250000"], ["name", ">", "SUP-002"]]
    assert [r.record.data["name"] for r in output.records] == ["SUP-001", "SUP-002", "SUP-003"]


def test_a_state_message_follows_every_page(no_metadata):
    pages = [
        [supplier(1, "2024-01-01 10:00:00"), supplier(2, "2024-01-01 10:00:00")],
        [supplier(3, "2024-01-01 10:00:00"), supplier(4, "2024-01-03 08:00:00.5")],
        [supplier(5, "2024-01-04 00:00:00")],
    ]
    no_metadata.get(SUPPLIERS, [{"json": {"data": p}} for p in pages])
    output = run_read({**CONFIG, "page_size": 2, "sync_deletions": False}, "supplier")
    kinds = [m.type.value for m in output.records_and_state_messages]
    assert kinds[:8] == ["RECORD", "RECORD", "STATE", "RECORD", "RECORD", "STATE", "RECORD", "STATE"]
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states[0] == {"modified": "2024-01-01 10:00:00.000000", "name": "SUP-002"}
    assert states[1] == {"modified": "2024-01-03 08:00:00.500000", "name": "SUP-004"}
    assert states[-1] == {"modified": "2024-01-04 00:00:00.000000", "name": "SUP-005"}


def test_short_page_is_not_the_end_until_the_site_is_known_to_honour_the_size(no_metadata):
    # The site caps pages at 2 rows although 3 were asked: the reader keeps going until an empty page.
    pages = [[supplier(1, "2024-01-01"), supplier(2, "2024-01-02")], [supplier(3, "2024-01-03"), supplier(4, "2024-01-04")], [supplier(5, "2024-01-05")], []]
    no_metadata.get(SUPPLIERS, [{"json": {"data": p}} for p in pages])
    output = run_read({**CONFIG, "page_size": 3, "sync_deletions": False}, "supplier")
    assert [r.record.data["name"] for r in output.records] == [f"SUP-00{i}" for i in range(1, 6)]
    assert len([r for r in no_metadata.request_history if r.path == "/api/resource/supplier"]) == 3


def test_incremental_read_resumes_exactly_after_the_saved_position(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": []})
    run_read({**CONFIG, "sync_deletions": False}, "supplier", state={"modified": "2024-05-01 12:00:00.123456", "name": "SUP-007"})
    params = last_list(no_metadata)
    assert params["filters"][-1] == ["modified", ">=", "2024-05-01 12:00:00.123456"]
    assert params["or_filters"] == [["modified", ">", "2024-05-01 12:00:00.123456"], ["name", ">", "SUP-007"]]


def test_lookback_window_starts_behind_the_saved_position(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": []})
    run_read({**CONFIG, "lookback_window_minutes": 10, "sync_deletions": False}, "supplier", state={"modified": "2024-05-01 12:00:00", "name": "SUP-007"})
    params = last_list(no_metadata)
    assert params["filters"][-1] == ["modified", ">=", "2024-05-01 11:50:00.000000"]
    assert "or_filters" not in params


def test_full_refresh_ignores_state_and_emits_no_position(no_metadata):
    no_metadata.get(SUPPLIERS, [{"json": {"data": [supplier(1, "2024-01-01")]}}, {"json": {"data": []}}])
    output = run_read(CONFIG, "supplier", mode=SyncMode.full_refresh, state={"modified": "2025-01-01 00:00:00", "name": "SUP-001"})
    assert "or_filters" not in list_queries(no_metadata)[0]
    assert [r.record.data["name"] for r in output.records] == ["SUP-001"]


def test_corrupt_state_restarts_the_stream_with_a_warning(no_metadata):
    no_metadata.get(SUPPLIERS, [{"json": {"data": [supplier(1, "2024-01-01")]}}, {"json": {"data": []}}])
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier", state={"cursor": 17, "modified": "yesterday"})
    assert [r.record.data["name"] for r in output.records] == ["SUP-001"]
    assert list_queries(no_metadata)[0]["filters"] == [["disabled", "=", 0], ["modified", ">=", "0001-01-01 00:00:00.000000"]]  # from the beginning
    assert any("reading the stream from the beginning" in log.log.message for log in output.logs)


def test_a_site_that_ignores_the_position_filter_fails_instead_of_looping(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": [supplier(1, "2024-01-01")]})
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier", expect_failure=True)
    assert len(output.records) == 1
    assert any("did not move past" in e.trace.error.message for e in output.errors)


def test_config_filters_are_sent_to_the_site_per_stream(no_metadata):
    config = {**CONFIG, "company": "Test Company", "warehouses": ["Stores - TC"], "submitted_only": True, "start_date": "2024-02-01"}
    for doctype in ("Bin", "Sales%20Order", "Warehouse", "Supplier"):
        no_metadata.get(f"{BASE_URL}/api/resource/{doctype}", json={"data": []})
    for doctype in ("Sales%20Order%20Item",):
        no_metadata.get(f"{BASE_URL}/api/resource/{doctype}", json={"data": []})
    sent = {}
    for stream in ("bin", "sales_order", "warehouse", "supplier"):
        run_read(config, stream, mode=SyncMode.full_refresh)
        sent[stream] = query(no_metadata.request_history[-1])["filters"]
    since = ["modified", ">=", "2024-02-01 00:00:00.000000"]
    assert sent["bin"] == [["warehouse", "in", ["Stores - TC"]], since]
    assert sent["sales_order"] == [["company", "=", "Test Company"], ["docstatus", "=", 1], since]
    assert sent["warehouse"] == [["disabled", "=", 0], ["company", "=", "Test Company"], ["name", "in", ["Stores - TC"]], since]
    assert sent["supplier"] == [["disabled", "=", 0], since]


def test_the_read_logs_records_and_pages_per_stream(no_metadata):
    pages = [[supplier(1, "2024-01-01"), supplier(2, "2024-01-02")], [supplier(3, "2024-01-03")]]
    no_metadata.get(SUPPLIERS, [{"json": {"data": p}} for p in pages])
    output = run_read({**CONFIG, "page_size": 2, "sync_deletions": False}, "supplier")
    assert output.is_in_logs("supplier: read 3 records in 2 pages")


def test_unreadable_metadata_falls_back_to_the_bundled_schema_and_says_so(no_metadata):
    no_metadata.get(SUPPLIERS, json={"data": []})
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier")
    assert output.is_in_logs("using the bundled schema for stream 'supplier'")
    metadata_requests = [r for r in no_metadata.request_history if r.path.endswith("getdoctype")]
    assert len(metadata_requests) == 1  # once per DocType per run, although the CDK asks for the schema per record


def test_documents_that_leave_the_config_become_deletions_only_if_they_may_have_been_replicated(no_metadata):
    """After the saved position the read asks without the disabled filter; a disabled document created before the
    position may be in the destination (a deletion record), one created after it never was (left out)."""
    position = "2024-05-01 12:00:00.000000"
    rows = [
        {**supplier(1, "2024-05-02 00:00:00"), "creation": "2024-01-01 00:00:00", "disabled": 1},  # replicated, then disabled
        {**supplier(2, "2024-05-02 00:00:01"), "creation": "2024-05-01 13:00:00", "disabled": 1},  # created disabled, later
        {**supplier(3, "2024-05-02 00:00:02"), "creation": "2024-05-01 13:00:00", "disabled": 0},  # new and enabled
    ]
    no_metadata.get(SUPPLIERS, [{"json": {"data": rows}}, {"json": {"data": []}}])
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier", state={"modified": position, "name": "SUP-000"})
    assert [f for f in list_queries(no_metadata)[0]["filters"] if f[0] == "disabled"] == []
    records = {r.record.data["name"]: r.record.data for r in output.records}
    assert set(records) == {"SUP-001", "SUP-003"}
    assert records["SUP-001"]["_ab_cdc_deleted_at"] == "2024-05-02 00:00:00" and "supplier_name" not in records["SUP-001"]
    assert "_ab_cdc_deleted_at" not in records["SUP-003"]


def test_null_fields_are_left_out_of_records_as_the_docs_say(no_metadata):
    """The CDK writes messages without null values (omit_none), inside records too; destinations and PyAirbyte read
    an absent field as null (the PostgreSQL test reads `_ab_cdc_deleted_at IS NULL` for live rows)."""
    no_metadata.get(SUPPLIERS, [{"json": {"data": [{**supplier(1, "2024-01-01"), "country": None}]}}, {"json": {"data": []}}])
    output = run_read({**CONFIG, "sync_deletions": False}, "supplier", mode=SyncMode.full_refresh)
    data = output.records[0].record.data
    assert "country" not in data and "_ab_cdc_deleted_at" not in data and data["supplier_name"] == "Supplier 1"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "integrations" / "sources" / "erpnext.md").read_text()
    assert "absent from records that are not deletion records" in docs


def test_a_stream_switched_from_full_refresh_to_incremental_keeps_its_position(no_metadata):
    """Full-refresh progress left in a state is no position: the incremental read starts from the beginning once, then
    its own position is what it saves and resumes from (the full-refresh keys are gone)."""
    no_metadata.get(SUPPLIERS, [{"json": {"data": [supplier(1, "2024-01-01")]}}, {"json": {"data": []}}])
    first = run_read({**CONFIG, "sync_deletions": False}, "supplier", state={"__ab_full_refresh_sync_complete": True})
    saved = first.state_messages[-1].state.stream.stream_state.__dict__
    assert saved == {"modified": "2024-01-01 00:00:00.000000", "name": "SUP-001"}
    no_metadata.get(SUPPLIERS, json={"data": []})
    run_read({**CONFIG, "sync_deletions": False}, "supplier", state={**saved, "__ab_full_refresh_sync_complete": True})
    assert last_list(no_metadata)["or_filters"] == [["modified", ">", "2024-01-01 00:00:00.000000"], ["name", ">", "SUP-001"]]

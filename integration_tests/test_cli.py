"""End-to-end tests of the installed `source-erpnext` console script against the bundled ERPNext test server.

Every test runs the connector as Airbyte runs it (a subprocess with --config/--catalog/--state files) and
asserts on the Airbyte messages it prints, parsed with the protocol's serializer.
"""

import json
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Status, Type

from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

HERE = Path(__file__).parent
SOURCE = Path(sys.executable).parent / "source-erpnext"
CONFIGURED_CATALOG = HERE / "configured_catalog.json"
EXPECTED_RECORDS = HERE / "expected_records.jsonl"
ABNORMAL_STATE = HERE / "abnormal_state.json"
SAMPLE_STATE = HERE / "sample_state.json"

DOCTYPES = {
    "item": "Item",
    "bin": "Bin",
    "sales_order": "Sales Order",
    "supplier": "Supplier",
    "customer": "Customer",
    "purchase_order": "Purchase Order",
    "stock_entry": "Stock Entry",
    "warehouse": "Warehouse",
}
# Disabled documents of these DocTypes are skipped unless include_disabled is set.
WITH_DISABLED = {"item", "supplier", "customer", "warehouse"}
CHILD_TABLES = {
    "item": ("reorder_levels", "Item Reorder"),
    "sales_order": ("items", "Sales Order Item"),
    "purchase_order": ("items", "Purchase Order Item"),
    "stock_entry": ("items", "Stock Entry Detail"),
}
DELETED_AT = "_ab_cdc_deleted_at"
DEFAULT_LOOKBACK = timedelta(minutes=5)
# The data behind expected_records.jsonl: a small seeded server (the seed makes it deterministic).
EXPECTED_RECORDS_SERVER = {"items": 20, "seed": 1}
EXPECTED_RECORDS_STREAMS = ("warehouse", "supplier", "customer")


# -- running the connector --------------------------------------------------------------------------


def run_source(*args: str, expect_exit: int = 0) -> List[AirbyteMessage]:
    """Run the installed console script; every stdout line must be an Airbyte message."""
    assert SOURCE.exists(), f"the console script {SOURCE} is not installed (pip install -e .)"
    done = subprocess.run([str(SOURCE), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == expect_exit, f"exit code {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    messages = []
    for line in done.stdout.splitlines():
        if line.strip():
            messages.append(AirbyteMessageSerializer.load(json.loads(line)))
    return messages


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


def config_for(srv: ErpnextTestServer, tmp_path: Path, **overrides) -> Path:
    config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, **overrides}
    return write_json(tmp_path / f"config-{len(list(tmp_path.glob('config-*')))}.json", config)


def catalog_file(tmp_path: Path, sync_mode: str, streams: Optional[List[str]] = None) -> Path:
    catalog = json.loads(CONFIGURED_CATALOG.read_text())
    catalog["streams"] = [s for s in catalog["streams"] if streams is None or s["stream"]["name"] in streams]
    for configured in catalog["streams"]:
        configured["sync_mode"] = sync_mode
        if sync_mode == "full_refresh":
            configured["destination_sync_mode"] = "overwrite"
    return write_json(tmp_path / f"catalog-{sync_mode}.json", catalog)


def records_by_stream(messages: List[AirbyteMessage]) -> Dict[str, List[dict]]:
    records = defaultdict(list)
    for message in messages:
        if message.type == Type.RECORD:
            records[message.record.stream].append(message.record.data)
    return records


def last_states(messages: List[AirbyteMessage]) -> Dict[str, dict]:
    """The last STATE message of each stream, as the Airbyte state list entry."""
    states = {}
    for message in messages:
        if message.type == Type.STATE:
            assert message.state.type.value == "STREAM", message
            entry = AirbyteMessageSerializer.dump(message)["state"]
            states[entry["stream"]["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": entry["stream"]}
    return states


def errors(messages: List[AirbyteMessage]) -> List[str]:
    return [m.trace.error.message for m in messages if m.type == Type.TRACE and m.trace.error is not None]


def expected_rows(srv: ErpnextTestServer, stream: str) -> List[dict]:
    """The server's documents the connector emits with its default settings (disabled ones skipped)."""
    rows = srv.records(DOCTYPES[stream])
    return [r for r in rows if not r.get("disabled")] if stream in WITH_DISABLED else rows


def parse_dt(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("T", " "))


# -- spec, check, discover ----------------------------------------------------------------------------


def test_spec_marks_the_credentials_secret():
    messages = run_source("spec")
    specs = [m.spec for m in messages if m.type == Type.SPEC]
    assert len(specs) == 1
    schema = specs[0].connectionSpecification
    assert set(schema["required"]) >= {"base_url", "api_key", "api_secret"}
    assert schema["properties"]["api_key"].get("airbyte_secret") is True
    assert schema["properties"]["api_secret"].get("airbyte_secret") is True
    assert not schema["properties"]["base_url"].get("airbyte_secret")


FAILING_CHECKS = {
    "wrong-secret": ({"api_secret": "wrong-secret-0123"}, ["401", "API key or secret"]),
    "invalid-host": ({"base_url": "https://erpnext.invalid"}, ["Could not resolve the host", "erpnext.invalid"]),
    "plain-http-remote-host": ({"base_url": "http://erp.example.com"}, ["base_url", "https"]),
}


@pytest.fixture(scope="module")
def check_outputs(erpnext_server, tmp_path_factory):
    """`check` with the good config and each failing one, run concurrently (a run is mostly the CDK's start-up)."""
    folder = tmp_path_factory.mktemp("checks")
    cases = {"good": {}, **{case: overrides for case, (overrides, _) in FAILING_CHECKS.items()}}
    configs = {case: config_for(erpnext_server, folder, **overrides) for case, overrides in cases.items()}
    with ThreadPoolExecutor(max_workers=len(configs)) as pool:
        futures = {case: pool.submit(run_source, "check", "--config", str(path)) for case, path in configs.items()}
        return {case: future.result() for case, future in futures.items()}


def test_check_succeeds_with_the_demo_credentials(check_outputs):
    messages = check_outputs["good"]
    statuses = [m.connectionStatus for m in messages if m.type == Type.CONNECTION_STATUS]
    assert len(statuses) == 1 and statuses[0].status == Status.SUCCEEDED, statuses


@pytest.mark.parametrize("case", list(FAILING_CHECKS))
def test_check_fails_with_an_actionable_message(check_outputs, case):
    overrides, expected_phrases = FAILING_CHECKS[case]
    messages = check_outputs[case]
    statuses = [m.connectionStatus for m in messages if m.type == Type.CONNECTION_STATUS]
    assert len(statuses) == 1 and statuses[0].status == Status.FAILED, statuses
    for phrase in expected_phrases:
        assert phrase in statuses[0].message, statuses[0].message
    assert "Traceback" not in statuses[0].message
    printed = "\n".join(json.dumps(AirbyteMessageSerializer.dump(m)) for m in messages)
    assert overrides.get("api_secret", API_SECRET) not in printed


def test_discover_lists_the_eight_streams_with_cursor_key_and_custom_fields(erpnext_server, tmp_path):
    messages = run_source("discover", "--config", str(config_for(erpnext_server, tmp_path)))
    catalogs = [m.catalog for m in messages if m.type == Type.CATALOG]
    assert len(catalogs) == 1
    streams = {s.name: s for s in catalogs[0].streams}
    assert list(streams)[:8] == list(DOCTYPES)  # the standard streams first, then every other DocType the user may read
    assert {"company", "sales_invoice", "deleted_document"} <= set(streams) and not {"employee", "sales_order_item", "stock_settings", "rq_job"} & set(streams)
    for stream in streams.values():
        assert {mode.value for mode in stream.supported_sync_modes} == {"full_refresh", "incremental"}
        assert stream.source_defined_cursor is True and stream.default_cursor_field == ["modified"]
        assert stream.source_defined_primary_key == [["name"]]
        assert "modified" in stream.json_schema["properties"] and "name" in stream.json_schema["properties"]
    item = streams["item"].json_schema["properties"]
    assert item["custom_shelf_life_days"]["type"] == ["null", "integer"]
    assert item["reorder_levels"]["items"]["properties"]["warehouse"]
    assert DELETED_AT in item


# -- read ---------------------------------------------------------------------------------------------


def test_full_refresh_emits_every_document_exactly_once(erpnext_server, tmp_path):
    # A small page size makes every stream span several keyset pages, some boundaries inside groups of
    # documents that share one `modified` value (the seeded bulk import).
    config = config_for(erpnext_server, tmp_path, page_size=37)
    messages = run_source("read", "--config", str(config), "--catalog", str(catalog_file(tmp_path, "full_refresh")))
    assert not errors(messages)
    records = records_by_stream(messages)
    assert set(records) == set(DOCTYPES)
    for stream in DOCTYPES:
        names = [r["name"] for r in records[stream]]
        duplicates = [name for name, count in Counter(names).items() if count > 1]
        assert not duplicates, f"{stream}: emitted more than once: {duplicates[:5]}"
        expected = expected_rows(erpnext_server, stream)
        assert len(names) == len(expected), stream
        assert set(names) == {r["name"] for r in expected}, stream
        assert not any(DELETED_AT in r for r in records[stream]), f"{stream}: deletion records in a full refresh"
    # Disabled documents exist on the server but are skipped by default.
    for stream in ("item", "customer"):
        assert any(r["disabled"] for r in erpnext_server.records(DOCTYPES[stream])), stream
    # Child rows are carried inside their parent, complete.
    for stream, (field, child) in CHILD_TABLES.items():
        by_parent = defaultdict(set)
        for row in erpnext_server.records(child):
            if row["parenttype"] == DOCTYPES[stream]:
                by_parent[row["parent"]].add(row["name"])
        for record in records[stream]:
            assert {c["name"] for c in record[field]} == by_parent.get(record["name"], set()), (stream, record["name"])


def test_expected_records_match_a_read_of_the_seeded_server(make_erpnext_server, tmp_path):
    srv = make_erpnext_server(**EXPECTED_RECORDS_SERVER)
    expected = [json.loads(line) for line in EXPECTED_RECORDS.read_text().splitlines() if line.strip()]
    # The committed file is what the seeded server holds (regenerate it with `python -m integration_tests.test_cli`).
    assert expected == expected_records_from(srv)
    messages = run_source(
        "read",
        "--config", str(config_for(srv, tmp_path)),
        "--catalog", str(catalog_file(tmp_path, "full_refresh", list(EXPECTED_RECORDS_STREAMS))),
    )
    assert not errors(messages)
    records = records_by_stream(messages)
    for stream in EXPECTED_RECORDS_STREAMS:
        want = sorted((r["data"] for r in expected if r["stream"] == stream), key=lambda r: r["name"])
        assert want, f"expected_records.jsonl holds no {stream} records"
        assert sorted(records[stream], key=lambda r: r["name"]) == want, stream


def test_incremental_read_from_a_state_file_emits_the_edited_documents(make_erpnext_server, tmp_path):
    srv = make_erpnext_server(items=60, seed=11)
    config = config_for(srv, tmp_path, refresh_open_documents=False)  # exactly what moved `modified`: open orders would come again
    catalog = catalog_file(tmp_path, "incremental")

    first = run_source("read", "--config", str(config), "--catalog", str(catalog))
    assert not errors(first)
    first_records = records_by_stream(first)
    for stream in DOCTYPES:
        live = [r for r in first_records[stream] if DELETED_AT not in r]
        assert sorted(r["name"] for r in live) == sorted(r["name"] for r in expected_rows(srv, stream)), stream
    states = last_states(first)
    assert set(states) == set(DOCTYPES)
    state_file = write_json(tmp_path / "state.json", list(states.values()))

    # Edit the oldest enabled documents of a few streams (well outside the lookback window), delete one.
    edited = {}
    for stream, changes in {
        "item": {"item_name": "Renamed by the e2e test"},
        "supplier": {"supplier_name": "Renamed Supplier"},
        "sales_order": {"status": "Closed"},
        "bin": {"actual_qty": 4242.0},
    }.items():
        oldest = expected_rows(srv, stream)[0]
        srv.edit(DOCTYPES[stream], oldest["name"], **changes)
        edited[stream] = (oldest["name"], changes)
    deleted_customer = expected_rows(srv, "customer")[0]["name"]
    srv.delete("Customer", deleted_customer)

    second = run_source("read", "--config", str(config), "--catalog", str(catalog), "--state", str(state_file))
    assert not errors(second)
    second_records = records_by_stream(second)
    for stream in DOCTYPES:
        saved = states[stream]["stream"]["stream_state"]
        window_start = parse_dt(saved["modified"]) - DEFAULT_LOOKBACK
        live = {r["name"]: r for r in second_records[stream] if DELETED_AT not in r}
        want = {r["name"] for r in expected_rows(srv, stream) if parse_dt(r["modified"]) >= window_start}
        # Emitted: the edited documents and the lookback window; not emitted: anything else.
        assert set(live) == want, f"{stream}: unexpected {sorted(set(live) - want)[:5]}, missing {sorted(want - set(live))[:5]}"
        assert len([r for r in second_records[stream] if DELETED_AT not in r]) == len(live), f"{stream}: duplicates"
        if stream in edited:
            name, changes = edited[stream]
            assert name in live, f"{stream}: the edited {name} was not emitted"
            assert {k: live[name][k] for k in changes} == changes
            assert parse_dt(live[name]["modified"]) > parse_dt(saved["modified"])
        untouched = [r["name"] for r in expected_rows(srv, stream) if parse_dt(r["modified"]) < window_start]
        assert untouched and not set(untouched) & set(live), stream
    deletions = [r for r in second_records["customer"] if DELETED_AT in r]
    assert [r["name"] for r in deletions] == [deleted_customer]

    # The saved position moved to the edits, and never backwards.
    new_states = last_states(second)
    for stream in DOCTYPES:
        before = parse_dt(states[stream]["stream"]["stream_state"]["modified"])
        after = parse_dt(new_states[stream]["stream"]["stream_state"]["modified"])
        assert after > before if stream in edited else after == before, stream


def read_incremental_from(server, tmp_path, state_file):
    """An incremental read of every stream by the CLI, from a committed state file."""
    return run_source(
        "read",
        "--config", str(config_for(server, tmp_path, refresh_open_documents=False)),  # exactly what moved `modified`: open orders would come again
        "--catalog", str(catalog_file(tmp_path, "incremental")),
        "--state", str(state_file),
    )


def test_incremental_read_from_the_sample_state(erpnext_server, tmp_path):
    state = json.loads(SAMPLE_STATE.read_text())
    messages = read_incremental_from(erpnext_server, tmp_path, SAMPLE_STATE)
    assert not errors(messages)
    records = records_by_stream(messages)
    positions = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in state}
    assert set(positions) == set(DOCTYPES)
    for stream in DOCTYPES:
        start = parse_dt(positions[stream]["modified"]) - DEFAULT_LOOKBACK
        live = sorted(r["name"] for r in records[stream] if DELETED_AT not in r)
        assert live == sorted(r["name"] for r in expected_rows(erpnext_server, stream) if parse_dt(r["modified"]) >= start), stream
    assert records["item"], "the sample state should leave some items to read"
    assert not records["warehouse"], "every warehouse was modified before the sample state"


def test_incremental_read_from_the_abnormal_state_emits_nothing(erpnext_server, tmp_path):
    state = json.loads(ABNORMAL_STATE.read_text())
    assert {s["stream"]["stream_descriptor"]["name"] for s in state} == set(DOCTYPES)
    messages = read_incremental_from(erpnext_server, tmp_path, ABNORMAL_STATE)
    assert not errors(messages)
    assert not records_by_stream(messages)
    # The far-future position is kept, not moved back.
    for name, entry in last_states(messages).items():
        assert entry["stream"]["stream_state"]["modified"].startswith("2999-12-31"), name


# -- expected_records.jsonl ---------------------------------------------------------------------------


def expected_records_from(srv: ErpnextTestServer) -> List[dict]:
    """The records the seeded server holds for EXPECTED_RECORDS_STREAMS, in Airbyte's expected-records layout.

    As the connector emits them: the CDK's message serializer leaves out the top-level fields whose value is null.
    """
    return [
        {"stream": stream, "data": {k: v for k, v in with_child_rows(srv, DOCTYPES[stream], row).items() if v is not None}, "emitted_at": 1700000000000}
        for stream in EXPECTED_RECORDS_STREAMS
        for row in sorted(expected_rows(srv, stream), key=lambda r: r["name"])
    ]


def with_child_rows(srv: ErpnextTestServer, doctype: str, row: dict) -> dict:
    """The document with each of its child tables (as the connector carries them: every column, in idx order)."""
    from integration_tests.erpnext_server import data

    tables = {}
    for fieldname, child in data.child_tables(doctype):
        rows = [c for c in srv.records(child) if c["parent"] == row["name"] and c["parenttype"] == doctype and c["parentfield"] == fieldname]
        tables[fieldname] = sorted(rows, key=lambda c: c["idx"])
    return {**row, **tables}


if __name__ == "__main__":
    # Regenerate expected_records.jsonl from the seeded server.
    with ErpnextTestServer(**EXPECTED_RECORDS_SERVER) as server:
        EXPECTED_RECORDS.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in expected_records_from(server)))
    print(f"wrote {EXPECTED_RECORDS}")

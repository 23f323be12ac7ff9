"""No data lost under faults: 429/502/503 answers, bodies cut off half way, edits and deletions while syncing, and a
killed sync resumed.

Run with `pytest -s` to see the figures (requests, retried requests, records, time).
"""

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any, Dict, Iterable, List, Set

import pytest
from airbyte_cdk.models import AirbyteStateMessage, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

import airbyte_cdk.sources.streams.http.rate_limiting as rate_limiting
from integration_tests.erpnext_server import API_KEY, API_SECRET
from source_erpnext import SourceErpnext

DELETED_AT = "_ab_cdc_deleted_at"
# stream -> (DocType, filtered on disabled = 0 by default)
STREAMS = {
    "item": ("Item", True),
    "bin": ("Bin", False),
    "sales_order": ("Sales Order", False),
    "supplier": ("Supplier", True),
    "customer": ("Customer", True),
    "purchase_order": ("Purchase Order", False),
    "stock_entry": ("Stock Entry", False),
    "warehouse": ("Warehouse", True),
}
CONNECTOR = [sys.executable, "-c", "from source_erpnext.run import run; run()"]
if Path(sys.executable).with_name("source-erpnext").exists():
    CONNECTOR = [str(Path(sys.executable).with_name("source-erpnext"))]


def config_for(srv, **extra: Any) -> Dict[str, Any]:
    return {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, **extra}


def expected(srv, stream: str) -> Dict[str, str]:
    """name -> modified of what the stream must hold at the end: the server's records, default filters applied."""
    doctype, disabled_filter = STREAMS[stream]
    return {r["name"]: str(r["modified"]) for r in srv.records(doctype) if not (disabled_filter and r.get("disabled"))}


def build_catalog(streams: Iterable[str], mode: SyncMode):
    builder = CatalogBuilder()
    for stream in streams:
        builder.with_stream(stream, mode)
    return builder.build()


def latest_states(messages: Iterable[AirbyteStateMessage]) -> List[AirbyteStateMessage]:
    """The state to start the next sync from: the last STATE message of each stream."""
    last: Dict[str, AirbyteStateMessage] = {}
    for message in messages:
        last[message.stream.stream_descriptor.name] = message
    return list(last.values())


@pytest.fixture
def quick_backoff(monkeypatch):
    """Backoff waits shortened 100x (what was asked is recorded): the faults still happen, the waiting does not."""
    asked: List[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds / 100)

    monkeypatch.setattr(rate_limiting, "time", types.SimpleNamespace(sleep=sleep))
    return asked


def assert_no_errors(output: EntrypointOutput) -> None:
    assert not output.errors, [e.trace.error.message for e in output.errors]


def test_no_data_lost_under_faults_edits_and_deletions(make_erpnext_server, quick_backoff):
    srv = make_erpnext_server(items=300, seed=3, fault_rate=0.15)
    srv.mutate_every = 5
    config = config_for(srv, page_size=25)
    figures = []

    def sync(label: str, mode: SyncMode, state=None) -> EntrypointOutput:
        srv.reset_stats()
        asked_before, started = len(quick_backoff), time.perf_counter()
        output = read(SourceErpnext(), config, build_catalog(STREAMS, mode), state)
        stats = srv.stats()
        figures.append(
            f"{label}: {len(output.records)} records, {stats['total']} requests, {stats['faults']} faults answered "
            f"(429/502/503, bodies cut off) and retried, {time.perf_counter() - started:.1f} s "
            f"(backoff asked {sum(quick_backoff[asked_before:]):.0f} s, slept 1/100 of it)"
        )
        assert_no_errors(output)
        assert stats["non_get"] == 0
        return output

    # Full refresh: every record that exists at the end was emitted (edited and deleted ones may be extra).
    full = sync("full refresh", SyncMode.full_refresh)
    for stream in STREAMS:
        emitted = {r.record.data["name"] for r in full.records if r.record.stream == stream}
        missing = set(expected(srv, stream)) - emitted
        assert not missing, f"{stream}: {len(missing)} records missing from the full refresh, e.g. {sorted(missing)[:5]}"
    assert {"item", "sales_order"} <= {r.record.stream for r in full.records}

    # Incremental: a first sync while the site is edited, then a second one (still with faults, no more edits).
    first = sync("incremental 1", SyncMode.incremental)
    srv.mutate_every = None
    second = sync("incremental 2", SyncMode.incremental, latest_states(m.state for m in first.state_messages))
    for stream in STREAMS:
        latest: Dict[str, Dict[str, Any]] = {}
        deleted: Set[str] = set()
        for message in first.records + second.records:
            if message.record.stream != stream:
                continue
            data = message.record.data
            if data.get(DELETED_AT):
                deleted.add(data["name"])
            elif data["name"] not in latest or str(data["modified"]) >= str(latest[data["name"]]["modified"]):
                latest[data["name"]] = data
        union = {name: str(data["modified"]) for name, data in latest.items() if name not in deleted}
        want = expected(srv, stream)
        assert set(union) == set(want), f"{stream}: missing {sorted(set(want) - set(union))[:5]}, extra {sorted(set(union) - set(want))[:5]}"
        stale = [name for name in want if union[name] != want[name]]
        assert not stale, f"{stream}: {len(stale)} records not at their latest version, e.g. {stale[:3]}"
    assert any(r.record.data.get(DELETED_AT) for r in first.records + second.records), "the edits made no deletion: the test proves less than it says"

    print("\n" + "\n".join(figures))
    assert sum(int(f.split(" faults")[0].rsplit(" ", 1)[1]) for f in figures) > 0, "no fault was injected"


# -- kill and resume -----------------------------------------------------------------------------------

INCREMENTAL = ["item", "bin", "sales_order", "customer", "supplier"]


def _write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def _catalog_file(tmp_path: Path) -> str:
    from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

    return _write_json(tmp_path / "catalog.json", ConfiguredAirbyteCatalogSerializer.dump(build_catalog(INCREMENTAL, SyncMode.incremental)))


def _records_and_states(lines: Iterable[str]) -> tuple:
    records: Dict[str, Set[str]] = {stream: set() for stream in INCREMENTAL}
    states: List[Dict[str, Any]] = []
    errors = []
    for line in lines:
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if message["type"] == "RECORD" and not message["record"]["data"].get(DELETED_AT):
            records[message["record"]["stream"]].add(message["record"]["data"]["name"])
        elif message["type"] == "STATE":
            states.append(message["state"])
        elif message["type"] == "TRACE" and message["trace"].get("type") == "ERROR":
            errors.append(message["trace"]["error"]["message"])
    return records, states, errors


def _streams_with_state(lines: List[str]) -> List[str]:
    names: List[str] = []
    for line in lines:
        if line.startswith('{"type":"STATE"'):
            name = json.loads(line)["state"]["stream"]["stream_descriptor"]["name"]
            names.append(name)
    return names


KILL_POINTS = {
    # At least two streams have saved a state and the latest has saved three: streams are read side by side and
    # large ones in concurrent `modified` ranges, so several streams are half read when the process dies.
    "several-streams-half-read": lambda names: len(set(names)) >= 2 and names.count(names[-1]) >= 3,
}


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
def test_a_killed_sync_resumes_from_its_last_state_without_loss(make_erpnext_server, tmp_path, kill_point):
    srv = make_erpnext_server(items=3000, seed=5, latency=0.005)
    config = _write_json(tmp_path / "config.json", config_for(srv, page_size=100))
    catalog = _catalog_file(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    started = time.perf_counter()
    first = subprocess.Popen(CONNECTOR + ["read", "--config", config, "--catalog", catalog], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    seen: List[str] = []
    killed = False
    try:
        for line in first.stdout:
            seen.append(line)
            if line.startswith('{"type":"STATE"') and KILL_POINTS[kill_point](_streams_with_state(seen)):
                first.send_signal(signal.SIGKILL)
                killed = True
                break
    finally:
        first.kill()
        first.wait(10)
    killed_after = time.perf_counter() - started
    assert killed, "the first run ended before it was killed"
    records1, states1, _ = _records_and_states(seen)

    # The platform keeps the last STATE of each stream and passes them as the state file.
    last: Dict[str, Dict[str, Any]] = {}
    for state in states1:
        last[state["stream"]["stream_descriptor"]["name"]] = state
    state_file = _write_json(tmp_path / "state.json", list(last.values()))
    second = subprocess.run(CONNECTOR + ["read", "--config", config, "--catalog", catalog, "--state", state_file], capture_output=True, text=True, env=env, timeout=120)
    records2, _, errors2 = _records_and_states(second.stdout.splitlines())
    assert second.returncode == 0 and not errors2, errors2 or second.stderr[-2000:]

    total = 0
    for stream in INCREMENTAL:
        want = set(expected(srv, stream))
        missing = want - (records1[stream] | records2[stream])
        assert not missing, f"{stream}: {len(missing)} records lost across the kill, e.g. {sorted(missing)[:5]}"
        total += len(want)
    resumed = [s for s in last if len(records2[s]) < len(expected(srv, s))]
    assert resumed, "the second run re-read every stream in full: it did not resume from the state"
    print(
        f"\nkill/resume ({kill_point}): killed after {killed_after:.1f} s and {sum(map(len, records1.values()))} records "
        f"(states for {sorted(last)}); the resumed run read {sum(map(len, records2.values()))} records "
        f"of {total} ({', '.join(f'{s}: {len(records2[s])}/{len(expected(srv, s))}' for s in sorted(last))}); "
        f"total {time.perf_counter() - started:.1f} s"
    )
    assert srv.stats()["non_get"] == 0

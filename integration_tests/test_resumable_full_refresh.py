"""Resumable full refresh: a full refresh emits its progress as state (the work left: where each concurrent range goes
on), so the next attempt of the same sync, handed that state by the platform, does not start from zero. The connector
runs as Airbyte runs it (the CLI, a subprocess) and is killed with SIGKILL in the middle of a stream read in ranges."""

import json
import signal
import subprocess

import pytest

from demo import connector_executable
from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

PAGE_SIZE, CONCURRENCY = 50, 4


@pytest.fixture(scope="module", params=[15, 16], ids=["frappe-15", "frappe-16"])
def server(request):
    """Frappe 15 (ranges over `modified`, then a final pass) and Frappe 16 (ranges over `creation`)."""
    with ErpnextTestServer(items=3000, seed=5, frappe_version=request.param) as srv:
        yield srv


def files(srv, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": PAGE_SIZE, "max_concurrency": CONCURRENCY}))
    catalog = tmp_path / "catalog.json"
    stream = {"name": "item", "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]}
    catalog.write_text(json.dumps({"streams": [{"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}))
    return config, catalog


def read(config, catalog, state=None, kill_after=None):
    """(record names, last stream state, exit code): the read is killed with SIGKILL after `kill_after` records."""
    args = [connector_executable(), "read", "--config", str(config), "--catalog", str(catalog)] + (["--state", str(state)] if state else [])
    names, last_state = [], None
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as proc:
        for line in proc.stdout:
            message = json.loads(line)
            if message["type"] == "RECORD":
                names.append(message["record"]["data"]["name"])
                if kill_after and len(names) >= kill_after:
                    proc.send_signal(signal.SIGKILL)
                    break
            elif message["type"] == "STATE":
                last_state = message["state"]
        proc.wait(timeout=120)
    return names, last_state, proc.returncode


def test_a_killed_full_refresh_resumes_from_its_last_state(server, tmp_path):
    config, catalog = files(server, tmp_path)
    everything, _, code = read(config, catalog)
    assert code == 0 and len(everything) == len(set(everything)) > 2000

    first, state, code = read(config, catalog, kill_after=len(everything) // 2)
    assert code == -signal.SIGKILL and state is not None
    work = state["stream"]["stream_state"]["full_refresh"]
    assert len(work) > 1, work  # killed while the stream was read in concurrent ranges
    assert state["stream"]["stream_state"]["key"] == ("creation" if server.frappe_version >= 16 else "modified")

    saved = tmp_path / "state.json"
    saved.write_text(json.dumps([state]))
    rest, final, code = read(config, catalog, state=saved)
    assert code == 0
    assert set(first) | set(rest) == set(everything)  # every remaining document
    reread = set(first) & set(rest)
    assert len(reread) <= PAGE_SIZE * len(work), f"{len(reread)} documents read again by {len(work)} ranges"
    assert len(rest) < len(everything) - len(first) + PAGE_SIZE * len(work)
    assert final["stream"]["stream_state"] == {"__ab_full_refresh_sync_complete": True}


def test_a_full_refresh_given_no_state_reads_everything_and_ends_complete(server, tmp_path):
    config, catalog = files(server, tmp_path)
    names, final, code = read(config, catalog)
    assert code == 0 and len(names) == len(set(names)) == len(server.records("Item")) - sum(1 for r in server.records("Item") if r.get("disabled"))
    assert final["stream"]["stream_state"] == {"__ab_full_refresh_sync_complete": True}

"""What an operator reads when ERPNext misbehaves: the `source-erpnext` CLI against the test server while its
database is down (a 500 with Frappe's own error body, as Frappe 15 and 16 send it) or a proxy answers 502 / 504 (an
nginx page). Every retry is logged with the status, the path, the server's words, the attempt and the wait; nothing
says "rate limit"; the read completes with every record once. A retried request that finally fails says how long it
was retried and what the last answer was.

Real processes, real waits (2 s, then 3 s): the runs go side by side.
"""

import collections
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder

from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer

CONNECTOR = [str(Path(sys.executable).with_name("source-erpnext"))]
# The CLI with its retry budget lowered to one retry (MAX_RETRIES is not a config setting), so giving up takes seconds.
CONNECTOR_ONE_RETRY = [sys.executable, "-c", "import source_erpnext.http as h; h.MAX_RETRIES = 1; from source_erpnext.run import run; run()"]
OUTAGE_AFTER, OUTAGE_REQUESTS = 3, 2  # the 4th and 5th request fail: one request (for orders or their lines), twice

# name -> (fault, Frappe version, what each retry line must say)
OUTAGES: Dict[str, Tuple[object, int, Tuple[str, ...]]] = {
    "db-down-frappe15": ("db", 15, ("ERPNext answered 500 for /api/resource/Sales Order", "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server", "(an error of the site's database)")),
    "db-down-frappe16": ("db", 16, ("The site answered 500 for /api/resource/Sales Order", "Internal Server Error", "the site's database is unreachable")),
    "query-timeout-frappe15": ("query-timeout", 15, ("ERPNext answered 500 for /api/resource/Sales Order", "frappe.exceptions.QueryTimeoutError: (1969, 'Query execution was interrupted")),
    "proxy-502": (502, 15, ("The site answered 502 for /api/resource/Sales Order", "with an HTML page (a proxy's error page?)", "502 Bad Gateway", "ERPNext's workers")),
    "proxy-504": (504, 15, ("The site answered 504 for /api/resource/Sales Order", "with an HTML page (a proxy's error page?)", "504 Gateway Time-out", "ERPNext's workers")),
}


@dataclass
class Run:
    server: ErpnextTestServer
    returncode: int
    stdout: str
    stderr: str

    def messages(self, kind: str) -> List[dict]:
        out = []
        for line in self.stdout.splitlines():
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("type") == kind:
                    out.append(message)
        return out

    def logs(self, level: str) -> List[str]:
        return [m["log"]["message"] for m in self.messages("LOG") if m["log"]["level"] == level]

    def errors(self) -> List[dict]:
        return [m["trace"]["error"] for m in self.messages("TRACE") if m["trace"].get("type") == "ERROR"]


def _read(name: str, fault, version: int, folder: Path, outage_requests: int = OUTAGE_REQUESTS, connector=CONNECTOR) -> Run:
    srv = ErpnextTestServer(items=30, seed=4, frappe_version=version).start()
    folder.mkdir(parents=True, exist_ok=True)
    config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET, "page_size": 10, "max_concurrency": 1}
    (folder / "config.json").write_text(json.dumps(config))
    catalog = CatalogBuilder().with_stream("sales_order", SyncMode.full_refresh).build()
    (folder / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(catalog)))
    srv.outage(fault, outage_requests, after=OUTAGE_AFTER)
    try:
        done = subprocess.run(
            connector + ["read", "--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        srv.stop()
    return Run(srv, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Dict[str, Run]:
    root = tmp_path_factory.mktemp("outages")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(_read, name, fault, version, root / name) for name, (fault, version, _) in OUTAGES.items()}
        futures["gives-up"] = pool.submit(_read, "gives-up", "db", 15, root / "gives-up", 1000, CONNECTOR_ONE_RETRY)
    return {name: future.result() for name, future in futures.items()}


def assert_no_rate_limit(run: Run) -> None:
    for text in (run.stdout, run.stderr):
        found = re.search(r".{0,200}rate[ -]limit.{0,100}", text, re.IGNORECASE)  # words, not the CDK's rate_limit_backoff_handler
        assert not found, found.group(0)


@pytest.mark.parametrize("name", list(OUTAGES))
def test_each_retry_names_the_cause_in_the_servers_words(runs, name):
    run = runs[name]
    retries = [line for line in run.logs("WARN") if "retrying in" in line]
    assert len(retries) == OUTAGE_REQUESTS, run.logs("WARN")
    for line in retries:
        for text in OUTAGES[name][2]:
            assert text in line, line
    assert retries[0].endswith("Attempt 1 of 7 failed; retrying in 2 s."), retries[0]
    assert retries[1].endswith("Attempt 2 of 7 failed; retrying in 3 s."), retries[1]
    assert_no_rate_limit(run)
    assert run.server.stats()["faults"] == OUTAGE_REQUESTS


@pytest.mark.parametrize("name", list(OUTAGES))
def test_the_read_completes_with_every_record_once(runs, name):
    run = runs[name]
    assert run.returncode == 0 and not run.errors(), [e["message"] for e in run.errors()] or run.stderr[-2000:]
    records = [m["record"]["data"] for m in run.messages("RECORD")]
    counts = collections.Counter(r["name"] for r in records)
    assert [n for n, c in counts.items() if c > 1] == []
    want = {r["name"]: str(r["modified"]) for r in run.server.records("Sales Order")}
    assert {r["name"]: str(r["modified"]) for r in records} == want
    lines = collections.defaultdict(list)
    for row in run.server.records("Sales Order Item"):
        lines[row["parent"]].append(row["name"])
    assert all(sorted(row["name"] for row in r["items"]) == sorted(lines[r["name"]]) for r in records)
    assert sum(len(r["items"]) for r in records) > 0


def test_a_request_retried_in_vain_says_how_long_and_what_the_last_answer_was(runs):
    run = runs["gives-up"]
    assert run.returncode != 0
    errors = [e for e in run.errors() if e.get("stream_descriptor")]
    assert errors and errors[0]["failure_type"] == "transient_error", run.errors()
    message = errors[0]["message"]
    seconds = re.match(r"Retried for (\d+) s, then gave up; the last answer: ", message)
    assert seconds and int(seconds.group(1)) >= 2, message  # one retry, after a 2 s wait
    assert "the last answer: ERPNext answered 500 for /api/resource/Sales Order" in message, message
    assert "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server" in message, message
    assert "Exhausted available request attempts" not in message
    retries = [line for line in run.logs("WARN") if "retrying in" in line]
    assert len(retries) == 1 and retries[0].endswith("Attempt 1 of 2 failed; retrying in 2 s."), retries
    assert_no_rate_limit(run)

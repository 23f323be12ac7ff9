"""Canary secrets: the API key and secret never appear in anything the CLI prints, whatever goes wrong.

Every scenario runs the CLI (`source-erpnext spec|check|discover|read`), with and without `--debug`, and checks
three things: the message and failure type the scenario must produce (CONNECTION_STATUS
or TRACE), that no credential of any user appears in stdout or stderr (plain, or as the Authorization token
or its base64 form), and that the connector sent no request other than GET.

Every scenario runs in this process through the console script's function (a CLI process costs 1-3 s of CPU to
start, too much for ~50 runs); the runs that print the most are also run as real `source-erpnext` processes.
"""

import base64
import json
import os
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder

from integration_tests.erpnext_server import API_KEY, API_SECRET, LIMITED_API_KEY, LIMITED_API_SECRET, ErpnextTestServer

CANARY_KEY, CANARY_SECRET = "canary-key-7f3a", "canary-secret-9c1b"
CREDENTIALS = [(CANARY_KEY, CANARY_SECRET), (API_KEY, API_SECRET), (LIMITED_API_KEY, LIMITED_API_SECRET)]
CONNECTOR = [str(Path(sys.executable).with_name("source-erpnext"))]
# The CLI itself, with the retry budget lowered so that exhausting it takes seconds (MAX_RETRIES is a module
# constant the connector does not expose in its config).
CONNECTOR_FEW_RETRIES = [sys.executable, "-c", "import source_erpnext.http as h; h.MAX_RETRIES = 1; from source_erpnext.run import run; run()"]

NGINX_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Login</title></head><body><form id='login'>Email / Password</form></body></html>"


def forbidden_strings() -> List[str]:
    """Every credential, alone, as the `token key:secret` header value, URL-encoded, and as HTTP Basic."""
    out = []
    for key, secret in CREDENTIALS:
        out += [key, secret, f"{key}:{secret}", f"{key}%3A{secret}", base64.b64encode(f"{key}:{secret}".encode()).decode()]
    return out + ["canary-key", "canary-secret"]


# -- a site that answers the same canned response on every path under /<mode>/ ---------------------------

CANNED: Dict[str, Callable[[str], Tuple[int, str, str]]] = {
    "notfound": lambda path: (404, "text/html", "<html><body><h1>Page Not Found</h1></body></html>"),
    "login": lambda path: (200, "text/html; charset=utf-8", LOGIN_PAGE),
    "badjson": lambda path: (200, "application/json", '{"message": "reader@exa'),
    "proxy502": lambda path: (502, "text/html", NGINX_502),
    "dbdown": lambda path: (500, "application/json", json.dumps({"exception": "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)\")", "exc_type": "OperationalError"})),
    "unavailable": lambda path: (503, "application/json", json.dumps({"exc_type": "SessionStopped", "exception": "frappe.exceptions.SessionStopped: Session Stopped"})),
    "refused417": lambda path: (
        (200, "application/json", json.dumps({"message": "reader@example.com"})) if path.endswith("get_logged_user")
        else (417, "application/json", json.dumps({"exc_type": "ValidationError", "_server_messages": json.dumps([json.dumps({"message": "Value <strong>Nope Ltd</strong> is not valid for company", "raise_exception": 1})])}))
    ),
}


class CannedSite:
    def __init__(self) -> None:
        self.non_get = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                if self.command != "GET":
                    site.non_get += 1
                mode, _, rest = self.path.lstrip("/").partition("/")
                status, ctype, body = CANNED.get(mode, CANNED["notfound"])(rest.split("?")[0])
                payload = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- scenarios ---------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    command: str  # spec | check | discover | read
    site: str = "server"  # server | server-no-deletions | canned:<mode> | url:<base_url>
    credentials: Tuple[str, str] = (CANARY_KEY, CANARY_SECRET)
    config: Dict[str, Any] = field(default_factory=dict)
    streams: List[str] = field(default_factory=lambda: ["supplier"])
    mode: SyncMode = SyncMode.incremental
    state: Any = None
    few_retries: bool = False
    # what the scenario must produce: ("succeeded",) | ("status", text) | ("trace", text, failure_type) | ("any",)
    expect: Tuple = ("any",)


SCENARIOS = [
    # Success paths: the server only knows its own keys, so the demo credentials are the canary here.
    Scenario("spec", "spec", credentials=(API_KEY, API_SECRET), expect=("spec",)),
    Scenario("check-ok", "check", credentials=(API_KEY, API_SECRET), expect=("succeeded",)),
    Scenario("discover-ok", "discover", credentials=(API_KEY, API_SECRET), expect=("catalog",)),
    Scenario("read-ok", "read", credentials=(API_KEY, API_SECRET), streams=["item", "supplier", "sales_order"], expect=("records",)),
    # 401 / 403 / 404
    Scenario("check-401", "check", expect=("status", "rejected the API key or secret")),
    Scenario("read-401", "read", expect=("trace", "rejected the API key or secret", "config_error")),
    Scenario("discover-401", "discover", expect=("any",)),
    Scenario("check-403-limited", "check", credentials=(LIMITED_API_KEY, LIMITED_API_SECRET), expect=("status", ("Bin", "Read permission"))),
    Scenario("read-403-bin", "read", credentials=(LIMITED_API_KEY, LIMITED_API_SECRET), streams=["bin"], mode=SyncMode.full_refresh, expect=("trace", "the DocType 'Bin'", "config_error")),
    Scenario("read-403-deleted-document", "read", site="server-no-deletions", credentials=(API_KEY, API_SECRET), expect=("trace", "Replicate Deletions", "config_error")),
    Scenario("check-404", "check", site="canned:notfound", expect=("status", "does not look like a Frappe/ERPNext site")),
    # answers that are not JSON
    Scenario("check-html-login", "check", site="canned:login", expect=("status", "HTML page")),
    Scenario("read-html-login", "read", site="canned:login", expect=("trace", "HTML page", "config_error")),
    Scenario("check-bad-json", "check", site="canned:badjson", expect=("status", "not JSON")),
    Scenario("read-proxy-502", "read", site="canned:proxy502", few_retries=True, expect=("trace", "502", "transient_error")),
    Scenario("read-db-down", "read", site="canned:dbdown", few_retries=True, expect=("trace", ("Retried for", "OperationalError: (2003"), "transient_error")),
    # network
    Scenario("check-dns", "check", site="url:https://canary-erp.invalid", expect=("status", "Could not resolve the host")),
    Scenario("read-dns", "read", site="url:https://canary-erp.invalid", expect=("trace", "Could not resolve the host", "config_error")),
    Scenario("check-tls", "check", site="url:tls", expect=("status", "TLS/SSL")),
    # 417
    Scenario("read-417", "read", site="canned:refused417", config={"company": "Nope Ltd"}, streams=["sales_order"], expect=("trace", "417", "config_error")),
    # invalid config
    Scenario("check-invalid-page-size", "check", config={"page_size": 0}, expect=("status", "")),
    Scenario("read-invalid-url", "read", site="url:http://erp.example.com", expect=("trace", "base_url", "config_error")),
    Scenario("discover-invalid-doctype", "discover", config={"additional_doctypes": ["Bad;Name"]}, expect=("trace", "additional_doctypes", "config_error")),
    # bad state
    Scenario("read-corrupt-state", "read", credentials=(API_KEY, API_SECRET), state={"modified": 12345, "name": ["x"]}, expect=("records",)),
    Scenario("read-string-state", "read", credentials=(API_KEY, API_SECRET), state="2024-01-01", expect=("any",)),
    # exhausted retries
    Scenario("read-503-exhausted", "read", site="canned:unavailable", few_retries=True, expect=("trace", "503", "transient_error")),
    Scenario("check-503-exhausted", "check", site="canned:unavailable", few_retries=True, expect=("any",)),
]


@dataclass
class Run:
    scenario: Scenario
    debug: bool
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def messages(self) -> List[Dict[str, Any]]:
        out = []
        for line in self.stdout.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "type" in message:
                out.append(message)
        return out

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def errors(self) -> List[Dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"].get("type") == "ERROR"]


@pytest.fixture(scope="module")
def sites():
    server = ErpnextTestServer(items=40, seed=2).start()
    no_deletions = ErpnextTestServer(items=20, seed=2).start()
    no_deletions.set_permission("Deleted Document", False)
    canned = CannedSite()
    yield {"server": server, "server-no-deletions": no_deletions, "canned": canned}
    server.stop()
    no_deletions.stop()
    canned.stop()


def _base_url(scenario: Scenario, sites: Dict[str, Any]) -> str:
    if scenario.site.startswith("canned:"):
        return sites["canned"].url(scenario.site.split(":", 1)[1])
    if scenario.site == "url:tls":  # https to a port that speaks plain HTTP: the TLS handshake fails
        return f"https://localhost:{sites['canned'].port}"
    if scenario.site.startswith("url:"):
        return scenario.site.split(":", 1)[1]
    return sites[scenario.site].url


def _args(scenario: Scenario, debug: bool, sites: Dict[str, Any], folder: Path) -> List[str]:
    folder.mkdir(parents=True, exist_ok=True)
    key, secret = scenario.credentials
    config = {"base_url": _base_url(scenario, sites), "api_key": key, "api_secret": secret, **scenario.config}
    args = [scenario.command]
    if scenario.command != "spec":
        (folder / "config.json").write_text(json.dumps(config))
        args += ["--config", str(folder / "config.json")]
    if scenario.command == "read":
        builder = CatalogBuilder()
        for stream in scenario.streams:
            builder.with_stream(stream, scenario.mode)
        (folder / "catalog.json").write_text(json.dumps(ConfiguredAirbyteCatalogSerializer.dump(builder.build())))
        args += ["--catalog", str(folder / "catalog.json")]
        if scenario.state is not None:
            states = [{"type": "STREAM", "stream": {"stream_descriptor": {"name": s}, "stream_state": scenario.state}} for s in scenario.streams]
            (folder / "state.json").write_text(json.dumps(states))
            args += ["--state", str(folder / "state.json")]
    if debug:
        args.append("--debug")
    return args


def _run_process(scenario: Scenario, debug: bool, sites: Dict[str, Any], folder: Path) -> Run:
    command = (CONNECTOR_FEW_RETRIES if scenario.few_retries else CONNECTOR) + _args(scenario, debug, sites, folder)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Run(scenario, debug, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def _run_in_process(scenario: Scenario, debug: bool, sites: Dict[str, Any], folder: Path, capfd, monkeypatch) -> Run:
    """The console script's own function (`source_erpnext.run.run`) in this process, as a fresh process would run it:
    no secret registered beforehand, INFO logging unless --debug, an uncaught exception handed to the CDK's excepthook
    (which is what prints it in a real process), stdout and stderr captured at the file descriptors."""
    import logging
    import traceback

    import airbyte_cdk.sources.streams.http.rate_limiting as rate_limiting
    from airbyte_cdk.utils import airbyte_secrets_utils
    from source_erpnext import http as erp_http
    from source_erpnext.run import run as console_script

    args = _args(scenario, debug, sites, folder)
    airbyte_secrets_utils.update_secrets([])
    levels = {name: logging.getLogger(name).level for name in ("airbyte", "")}
    if scenario.few_retries:
        monkeypatch.setattr(erp_http, "MAX_RETRIES", 1)
        monkeypatch.setattr(rate_limiting, "time", types.SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(sys, "argv", ["source-erpnext"] + args)
    capfd.readouterr()
    returncode, hook = 0, sys.excepthook
    started = time.perf_counter()
    try:
        console_script()
    except SystemExit as exit_:
        returncode = exit_.code if isinstance(exit_.code, int) else 1
    except Exception as error:  # what the interpreter does with it: the excepthook installed by the CDK
        returncode = 1
        (sys.excepthook if sys.excepthook is not sys.__excepthook__ else lambda *a: traceback.print_exception(*a))(type(error), error, error.__traceback__)
    finally:
        sys.excepthook = hook
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        airbyte_secrets_utils.update_secrets([])
    out, err = capfd.readouterr()
    return Run(scenario, debug, returncode, out, err, time.perf_counter() - started)


def assert_no_credential(run: Run) -> None:
    for text, where in ((run.stdout, "stdout"), (run.stderr, "stderr")):
        leaked = [s for s in forbidden_strings() if s in text]
        if leaked:
            at = text.find(leaked[0])
            pytest.fail(f"{run.scenario.name}{' --debug' if run.debug else ''}: {leaked} in {where}: ...{text[max(0, at - 300):at + 100]}...")
    assert run.stdout.strip(), f"{run.scenario.name}: the CLI printed nothing (stderr: {run.stderr[-500:]})"


def _texts(expected: Any) -> Tuple[str, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def assert_reports_what_it_must(run: Run) -> None:
    kind = run.scenario.expect[0]
    errors = run.errors()
    if kind == "spec":
        assert run.of_type("SPEC") and run.returncode == 0
    elif kind == "succeeded":
        statuses = run.of_type("CONNECTION_STATUS")
        assert statuses and statuses[-1]["connectionStatus"]["status"] == "SUCCEEDED", statuses
    elif kind == "catalog":
        catalog = run.of_type("CATALOG")
        assert catalog and {"item", "bin", "sales_order"} <= {s["name"] for s in catalog[0]["catalog"]["streams"]}
    elif kind == "records":
        assert run.of_type("RECORD") and not errors and run.returncode == 0, [e["message"] for e in errors]
    elif kind == "status":
        statuses = run.of_type("CONNECTION_STATUS")
        assert statuses, f"no CONNECTION_STATUS; errors: {[(e['failure_type'], e['message']) for e in errors]}"
        status = statuses[-1]["connectionStatus"]
        assert status["status"] == "FAILED" and all(text in status.get("message", "") for text in _texts(run.scenario.expect[1])), status
        assert not [e for e in errors if e["failure_type"] != "config_error"], errors
    elif kind == "trace":
        assert errors, f"no TRACE error (exit {run.returncode})"
        error = next((e for e in errors if e.get("stream_descriptor")), errors[0])
        assert all(text in error["message"] for text in _texts(run.scenario.expect[1])), error["message"]
        assert error["failure_type"] == run.scenario.expect[2], (error["failure_type"], error["message"])
        assert run.returncode != 0


BY_NAME = {s.name: s for s in SCENARIOS}
CASES = [pytest.param(s.name, debug, id=f"{s.name}{'-debug' if debug else ''}") for s in SCENARIOS for debug in (False, True)]


@pytest.mark.parametrize("name, debug", CASES)
def test_no_credential_in_the_output_and_the_right_report(sites, tmp_path, capfd, monkeypatch, name, debug):
    requests_before = sites["server"].stats()["total"]
    run = _run_in_process(BY_NAME[name], debug, sites, tmp_path, capfd, monkeypatch)
    assert_no_credential(run)
    assert_reports_what_it_must(run)
    if "invalid" in name:  # an invalid config is refused before any request
        assert sites["server"].stats()["total"] == requests_before


# The same, as real processes (the console script `source-erpnext`), for the runs that print the most.
SUBPROCESS_CASES = [("read-ok", True), ("check-401", False), ("read-503-exhausted", True), ("read-string-state", True)]


@pytest.fixture(scope="module")
def processes(sites, tmp_path_factory) -> Dict[Tuple[str, bool], Run]:
    root = tmp_path_factory.mktemp("canary")
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {(name, debug): pool.submit(_run_process, BY_NAME[name], debug, sites, root / f"{name}-{debug}") for name, debug in SUBPROCESS_CASES}
    return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("name, debug", [pytest.param(n, d, id=f"{n}{'-debug' if d else ''}") for n, d in SUBPROCESS_CASES])
def test_no_credential_in_the_output_of_the_cli_process(processes, name, debug):
    run = processes[(name, debug)]
    assert_no_credential(run)
    assert_reports_what_it_must(run)
    if debug and name == "read-ok":
        # --debug logs every request with its headers in a real process: the token is there, masked, so the
        # checks above would see a leak. (In-process runs share logging set-up with other tests: not checked there.)
        assert "'Authorization': 'token ****:****'" in run.stdout


def test_the_syncs_sent_only_get_requests(processes, sites):
    assert sites["server"].stats()["non_get"] == 0
    assert sites["server-no-deletions"].stats()["non_get"] == 0
    assert sites["canned"].non_get == 0
    assert sites["server"].stats()["total"] > 0


def _cli_check(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(CONNECTOR + ["check", "--config", str(path)], capture_output=True, text=True, timeout=120)


def test_a_pasted_secret_with_a_line_break_works_or_is_refused_without_being_printed(erpnext_server, tmp_path):
    """requests refuses a header holding a line break and repeats the header, secret and all, in its error: a trailing
    newline (as pasting adds) is stripped; one inside the value is refused without echoing it."""
    trailing = _cli_check({"base_url": erpnext_server.url, "api_key": API_KEY, "api_secret": API_SECRET + "\n"}, tmp_path)
    assert '"status":"SUCCEEDED"' in trailing.stdout.replace(" ", ""), trailing.stdout[-2000:]
    inside = _cli_check({"base_url": erpnext_server.url, "api_key": API_KEY, "api_secret": CANARY_SECRET[:6] + "\n" + CANARY_SECRET[6:]}, tmp_path)
    assert "'api_secret' must be the key or secret exactly as ERPNext shows it" in inside.stdout, inside.stdout[-2000:]
    for run in (trailing, inside):
        for secret in (API_SECRET, CANARY_SECRET[:6], CANARY_SECRET[6:]):
            assert secret not in run.stdout and secret not in run.stderr


def test_a_site_url_holding_a_password_is_refused_without_printing_it(erpnext_server, tmp_path):
    url = erpnext_server.url.replace("http://", f"http://admin:{CANARY_SECRET}@")
    run = _cli_check({"base_url": url, "api_key": API_KEY, "api_secret": API_SECRET}, tmp_path)
    assert "'base_url' must not hold a user name or password" in run.stdout, run.stdout[-2000:]
    assert CANARY_SECRET not in run.stdout and CANARY_SECRET not in run.stderr

"""Reliability and security: what the user sees when the site, the network, the config or the state is wrong.

Every test goes through the public surface (the Airbyte entrypoint, as `airbyte_cdk.test.entrypoint_wrapper`
runs it) and asserts the message text and the failure type: a CONNECTION_STATUS for `check`, a TRACE
error for `read`. The site is requests-mock, except for the DNS and TLS tests, which need a real socket.
"""

import json
import re
import ssl
import tempfile
import threading
import time
import types
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import requests
from airbyte_cdk.models import FailureType, Status, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome

import airbyte_cdk.sources.streams.http.rate_limiting as rate_limiting
from source_erpnext import SourceErpnext
from source_erpnext import http as erp_http

from source_erpnext.keyset import EARLIEST

from .conftest import BASE_URL, CONFIG, catalog, query, run_read

LOGGED_USER = f"{BASE_URL}/api/method/frappe.auth.get_logged_user"
GET_COUNT = f"{BASE_URL}/api/method/frappe.client.get_count"
META = f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype"
SUPPLIERS = f"{BASE_URL}/api/resource/Supplier"
SALES_ORDERS = f"{BASE_URL}/api/resource/Sales%20Order"
SALES_ORDER_ITEMS = f"{BASE_URL}/api/resource/Sales%20Order%20Item"
DELETED = f"{BASE_URL}/api/resource/Deleted%20Document"

NGINX_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Login</title></head><body><form id='login'>Email / Password</form></body></html>"


# -- helpers -----------------------------------------------------------------------------------------


def frappe_error(exc_type: str, message: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    """A Frappe error body as frappe.utils.response.report_error writes it."""
    body: Dict[str, Any] = {"exc_type": exc_type, **extra}
    if message:
        body["_server_messages"] = json.dumps([json.dumps({"message": message, "indicator": "red", "raise_exception": 1})])
    return body


def supplier(i: int, modified: str = "2024-01-01 10:00:00") -> Dict[str, Any]:
    return {"name": f"SUP-{i:03d}", "supplier_name": f"Supplier {i}", "modified": modified, "disabled": 0}


def pages(*rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """requests-mock answers: these pages, then the empty page that ends a listing."""
    return [{"json": {"data": list(page)}} for page in rows] + [{"json": {"data": []}}]


def run_check(config: Dict[str, Any]) -> EntrypointOutput:
    with tempfile.TemporaryDirectory() as folder:
        return _run_command(SourceErpnext(), ["check", "--config", make_file(Path(folder) / "config.json", config)], expected_outcome=ExpectedOutcome.ALLOW_ANY)


def read_failing(config: Dict[str, Any], stream: str = "supplier", mode: SyncMode = SyncMode.incremental, state: Optional[Dict[str, Any]] = None) -> EntrypointOutput:
    return run_read(config, stream, mode, state=state, expect_failure=True)


def connection_status(output: EntrypointOutput):
    statuses = output.connection_status_messages
    assert len(statuses) == 1, f"expected one CONNECTION_STATUS, got {[m.type for m in output._messages]}"
    return statuses[0].connectionStatus


def failed_check_message(output: EntrypointOutput) -> str:
    """check's config-error surface: a FAILED CONNECTION_STATUS (and no TRACE error claiming a system fault)."""
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert not [e for e in output.errors if e.trace.error.failure_type != FailureType.config_error], trace_summary(output)
    return status.message


def stream_error(output: EntrypointOutput, stream: Optional[str] = None):
    """The TRACE error a stream failed with (not the CDK's closing summary of failed streams)."""
    errors = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor is not None]
    if stream:
        errors = [e for e in errors if e.stream_descriptor.name == stream]
    assert errors, f"no stream TRACE error in {trace_summary(output)}"
    return errors[0]


def trace_summary(output: EntrypointOutput) -> List[str]:
    return [f"{e.trace.error.failure_type}: {e.trace.error.message}" for e in output.errors]


def log_text(output: EntrypointOutput, *levels: str) -> str:
    return "\n".join(m.log.message for m in output.logs if not levels or m.log.level.value in levels)


def assert_no_traceback_of_json_decoding(output: EntrypointOutput) -> None:
    everything = log_text(output) + "\n".join((e.trace.error.stack_trace or "") + (e.trace.error.internal_message or "") for e in output.errors)
    assert "JSONDecodeError" not in everything and "Expecting value" not in everything


@pytest.fixture
def site(requests_mock):
    """A site whose metadata is refused (bundled schemas), with small counts and no deletions."""
    requests_mock.get(META, status_code=403, json=frappe_error("PermissionError"))
    requests_mock.get(GET_COUNT, json={"message": 0})
    requests_mock.get(DELETED, json={"data": []})
    requests_mock.get(SALES_ORDER_ITEMS, json={"data": []})
    return requests_mock


@pytest.fixture
def sleeps(monkeypatch) -> List[float]:
    """The CDK's backoff sleeps, recorded instead of slept, so that retry tests take no time."""
    recorded: List[float] = []
    monkeypatch.setattr(rate_limiting, "time", types.SimpleNamespace(sleep=recorded.append))
    return recorded


def requests_to(mock, path: str) -> list:
    return [r for r in mock.request_history if r.path == path.lower()]


# -- 401 / 403 / 404 ---------------------------------------------------------------------------------


def test_a_failed_check_message_is_plain_text_not_a_python_repr(requests_mock):
    requests_mock.get(LOGGED_USER, status_code=401, json=frappe_error("AuthenticationError"))
    message = failed_check_message(run_check(CONFIG))
    assert message.startswith("ERPNext rejected"), f"the message the user sees is wrapped in quotes: {message}"


def test_check_with_a_rejected_key_says_so_as_a_config_error(requests_mock):
    requests_mock.get(LOGGED_USER, status_code=401, json=frappe_error("AuthenticationError", "Password not found for User None api_secret"))
    message = failed_check_message(run_check(CONFIG))
    assert "rejected the API key or secret" in message and "401" in message
    assert "API Access" in message  # says where to make a new pair


def test_read_with_a_rejected_key_fails_the_stream_with_a_config_error(site):
    site.get(SUPPLIERS, status_code=401, json=frappe_error("AuthenticationError"))
    site.get(GET_COUNT, status_code=401, json=frappe_error("AuthenticationError"))
    error = stream_error(read_failing(CONFIG), "supplier")
    assert error.failure_type == FailureType.config_error
    assert "rejected the API key or secret" in error.message and "401" in error.message


def test_read_forbidden_doctype_names_it_and_the_read_permission(site):
    body = frappe_error("PermissionError", "User <strong>x@example.com</strong> does not have doctype access via role permission for document <strong>Supplier</strong>")
    site.get(SUPPLIERS, status_code=403, json=body)
    site.get(GET_COUNT, status_code=403, json=body)
    error = stream_error(read_failing(CONFIG), "supplier")
    assert error.failure_type == FailureType.config_error
    assert "'Supplier'" in error.message and "Read permission" in error.message and "403" in error.message
    assert "<strong>" not in error.message  # Frappe's HTML is stripped


def test_check_forbidden_doctype_names_it(requests_mock):
    requests_mock.get(re.compile(re.escape(f"{BASE_URL}/api/resource/")), json={"data": []})  # every DocType is readable...
    requests_mock.get(f"{BASE_URL}/api/resource/Bin", status_code=403, json=frappe_error("PermissionError"))  # ...but Bin
    requests_mock.get(LOGGED_USER, json={"message": "reader@example.com"})
    message = failed_check_message(run_check(CONFIG))
    assert "Bin" in message and "Read permission" in message
    assert "Item" not in message  # only the DocTypes it may not read


def test_forbidden_deleted_document_in_an_incremental_read_names_replicate_deletions(site):
    site.get(SUPPLIERS, pages([supplier(1)]))
    site.get(DELETED, status_code=403, json=frappe_error("PermissionError", "No permission for Deleted Document"))
    output = read_failing(CONFIG)
    error = stream_error(output, "supplier")
    assert error.failure_type == FailureType.config_error
    assert "Deleted Document" in error.message and "Replicate Deletions" in error.message


def test_full_refresh_does_not_need_deleted_document(site):
    site.get(SUPPLIERS, pages([supplier(1)]))
    site.get(DELETED, status_code=403, json=frappe_error("PermissionError"))
    output = run_read(CONFIG, "supplier", SyncMode.full_refresh)
    assert not output.errors and len(output.records) == 1


def test_api_not_found_says_the_site_is_not_frappe(requests_mock):
    requests_mock.get(LOGGED_USER, status_code=404, text="<html><body><h1>Not Found</h1></body></html>", headers={"Content-Type": "text/html"})
    message = failed_check_message(run_check(CONFIG))
    assert "not found (404)" in message and "does not look like a Frappe/ERPNext site" in message
    assert "/api/method/frappe.auth.get_logged_user" in message


def test_read_on_a_site_without_the_api_says_it_is_not_frappe(site):
    page = {"status_code": 404, "text": "<html><body>Page Not Found</body></html>", "headers": {"Content-Type": "text/html"}}
    site.get(SUPPLIERS, **page)
    site.get(GET_COUNT, **page)
    error = stream_error(read_failing(CONFIG), "supplier")
    assert error.failure_type == FailureType.config_error
    assert "does not look like a Frappe/ERPNext site" in error.message


def test_an_unknown_additional_doctype_is_named(site):
    site.get(f"{META}?doctype=Sales+Invoice", status_code=404, json=frappe_error("DoesNotExistError", "DocType Sales Invoice not found"))
    site.get(f"{BASE_URL}/api/resource/Sales%20Invoice", status_code=404, json=frappe_error("DoesNotExistError", "DocType Sales Invoice not found"))
    site.get(GET_COUNT, status_code=404, json=frappe_error("DoesNotExistError", "DocType Sales Invoice not found"))
    error = stream_error(read_failing({**CONFIG, "additional_doctypes": ["Sales Invoice"]}, "sales_invoice"), "sales_invoice")
    assert error.failure_type == FailureType.config_error
    assert "no DocType 'Sales Invoice'" in error.message


# -- answers that are not JSON ---------------------------------------------------------------------


def test_a_login_page_answered_with_200_is_named_as_html(requests_mock):
    requests_mock.get(LOGGED_USER, text=LOGIN_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
    output = run_check(CONFIG)
    message = failed_check_message(output)
    assert "HTML" in message and "status 200" in message and "/api/method/frappe.auth.get_logged_user" in message
    assert_no_traceback_of_json_decoding(output)


def test_a_login_page_in_a_read_is_named_as_html(site):
    page = {"text": LOGIN_PAGE, "headers": {"Content-Type": "text/html"}}
    site.get(SUPPLIERS, **page)
    site.get(GET_COUNT, **page)
    output = read_failing(CONFIG)
    error = stream_error(output, "supplier")
    assert error.failure_type == FailureType.config_error
    assert "HTML" in error.message and "status 200" in error.message
    assert "/api/resource/Supplier" in error.message or "/api/method/frappe.client.get_count" in error.message
    assert_no_traceback_of_json_decoding(output)


def test_invalid_json_is_named_with_status_and_path_without_a_json_traceback(requests_mock):
    requests_mock.get(LOGGED_USER, text='{"message": "reader@exa', headers={"Content-Type": "application/json"})
    output = run_check(CONFIG)
    message = failed_check_message(output)
    assert "not JSON" in message and "status 200" in message and "/api/method/frappe.auth.get_logged_user" in message
    assert_no_traceback_of_json_decoding(output)


def test_invalid_json_in_a_read_is_named_without_a_json_traceback(site):
    site.get(SUPPLIERS, text='{"data": [{"name": "SUP-001", ', headers={"Content-Type": "application/json"})
    output = read_failing({**CONFIG, "max_concurrency": 1})
    error = stream_error(output, "supplier")
    assert "not JSON" in error.message and "status 200" in error.message and "/api/resource/Supplier" in error.message
    assert error.failure_type in (FailureType.config_error, FailureType.system_error)
    assert_no_traceback_of_json_decoding(output)


def test_a_proxy_502_page_that_persists_is_named_as_html_after_the_retries(site, sleeps):
    site.get(SUPPLIERS, status_code=502, text=NGINX_502, headers={"Content-Type": "text/html"})
    site.get(GET_COUNT, status_code=502, text=NGINX_502, headers={"Content-Type": "text/html"})
    output = read_failing(CONFIG)
    error = stream_error(output, "supplier")
    assert error.failure_type == FailureType.transient_error
    assert "502" in error.message
    assert "/api/resource/Supplier" in error.message or "/api/method/frappe.client.get_count" in error.message
    # The final message is about an HTML page from a proxy, and does not promise another try.
    assert "HTML" in error.message, error.message
    assert "retrying" not in error.message.lower(), error.message
    assert_no_traceback_of_json_decoding(output)


# -- network: DNS and TLS (real sockets, no requests-mock) ----------------------------------------------


def test_an_unresolvable_host_is_named_as_a_dns_failure():
    config = {**CONFIG, "base_url": "https://erp-does-not-exist.invalid"}
    message = failed_check_message(run_check(config))
    assert "Could not resolve the host" in message and "erp-does-not-exist.invalid" in message
    error = stream_error(read_failing(config), "supplier")
    assert error.failure_type == FailureType.config_error
    assert "Could not resolve the host" in error.message


def _self_signed_certificate(folder: Path) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_file), str(key_file)


class _JsonHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"message": "reader@example.com", "data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_site(tmp_path):
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (stdlib ssl + http.server)."""
    cert, key = _self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JsonHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_self_signed_certificate_is_named_as_a_tls_failure(tls_site):
    config = {**CONFIG, "base_url": tls_site}
    started = time.monotonic()
    message = failed_check_message(run_check(config))
    assert "TLS/SSL" in message and "certificate" in message.lower()
    error = stream_error(read_failing(config), "supplier")
    assert error.failure_type == FailureType.config_error and "TLS/SSL" in error.message
    assert time.monotonic() - started < 10  # a certificate problem is not retried


# -- 417: a filter the site refuses ------------------------------------------------------------------


def test_a_refused_filter_value_names_the_filter_settings(site):
    body = frappe_error("ValidationError", "Company <strong>Nope Ltd</strong> is not a valid value for the company filter")
    site.get(SALES_ORDERS, status_code=417, json=body)
    site.get(GET_COUNT, status_code=417, json=body)
    error = stream_error(read_failing({**CONFIG, "company": "Nope Ltd"}, "sales_order"), "sales_order")
    assert error.failure_type == FailureType.config_error
    assert "417" in error.message and "Sales Order" in error.message
    assert "company" in error.message and "filter" in error.message
    assert "Nope Ltd is not a valid value" in error.message  # Frappe's own words, HTML stripped


# -- invalid config: rejected before any request -------------------------------------------------------

INVALID_CONFIGS = [
    pytest.param({"base_url": "http://erp.example.com"}, "base_url", id="http-not-local"),
    pytest.param({"page_size": 0}, "page_size", id="page-size-0"),
    pytest.param({"page_size": 1001}, "page_size", id="page-size-1001"),
    pytest.param({"start_date": "yesterday"}, "start_date", id="start-date-yesterday"),
    pytest.param({"additional_doctypes": ["Bad;Name"]}, "additional_doctypes", id="doctype-bad-name"),
]


def _names_the_field(message: str, field: str, value: Dict[str, Any]) -> bool:
    # Either the connector names the field, or the CDK's spec validation quotes the refused value.
    refused = json.dumps(list(value.values())[0]).strip('"[]')
    return field in message or refused in message


@pytest.mark.parametrize("bad, field", INVALID_CONFIGS)
def test_invalid_config_fails_check_before_any_request(requests_mock, bad, field):
    message = failed_check_message(run_check({**CONFIG, **bad}))
    assert _names_the_field(message, field, bad), message
    assert requests_mock.request_history == []


@pytest.mark.parametrize("bad, field", INVALID_CONFIGS)
def test_invalid_config_fails_read_with_a_config_error_before_any_request(requests_mock, bad, field):
    output = read_failing({**CONFIG, **bad})
    errors = output.errors
    assert errors and all(e.trace.error.failure_type == FailureType.config_error for e in errors), trace_summary(output)
    assert _names_the_field(errors[0].trace.error.message, field, bad), errors[0].trace.error.message
    assert requests_mock.request_history == []
    assert not output.records


@pytest.mark.parametrize("value", ["yesterday", "31/01/2025", "2025-02-30", "2025-01-31 8am", "2025-01-31T08:00:00+02:00"])
def test_a_start_date_that_is_not_a_date_says_what_a_valid_one_looks_like(requests_mock, value):
    check_message = failed_check_message(run_check({**CONFIG, "start_date": value}))
    read_errors = read_failing({**CONFIG, "start_date": value}).errors
    assert read_errors and read_errors[0].trace.error.failure_type == FailureType.config_error
    for message in (check_message, read_errors[0].trace.error.message):
        assert "'start_date'" in message and "2025-01-31" in message and "2025-01-31 08:00:00" in message, message
        assert "\\d" not in message and "match" not in message, message  # not the spec's regular expression
    assert requests_mock.request_history == []


@pytest.mark.parametrize("suffix", ["/api", "/api/", "/api/resource/Supplier", "/api/method/frappe.auth.get_logged_user", "/app/supplier"])
def test_a_site_url_pasted_with_an_api_or_desk_path_is_taken_as_the_site(site, suffix):
    site.get(SUPPLIERS, pages([supplier(1)]))
    output = run_read({**CONFIG, "base_url": BASE_URL + suffix, "max_concurrency": 1}, "supplier")
    assert [r.record.data["name"] for r in output.records] == ["SUP-001"]
    assert site.request_history and all(r.url.startswith(f"{BASE_URL}/api/resource/") or r.url.startswith(f"{BASE_URL}/api/method/") for r in site.request_history)


# -- state that this connector did not write ---------------------------------------------------------


def _read_with_raw_state(config: Dict[str, Any], stream: str, raw_state: Any) -> EntrypointOutput:
    """A read whose --state file holds exactly `raw_state` (as the platform would pass a stored state)."""
    from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        args = [
            "read",
            "--config", make_file(root / "config.json", config),
            "--catalog", make_file(root / "catalog.json", ConfiguredAirbyteCatalogSerializer.dump(catalog(stream))),
            "--state", make_file(root / "state.json", json.dumps(raw_state)),
        ]
        return _run_command(SourceErpnext(), args, expected_outcome=ExpectedOutcome.ALLOW_ANY)


CORRUPT_STATES = [
    pytest.param({"modified": 20240101}, id="modified-int"),
    pytest.param({"modified": None, "name": "SUP-001"}, id="modified-null"),
    pytest.param({"modified": ["2024-01-01"]}, id="modified-list"),
    pytest.param({"modified": "not a date", "name": 7}, id="modified-garbage"),
    pytest.param({"name": "SUP-001"}, id="no-modified"),
    pytest.param({"modified": "2024-01-01 00:00:00", "name": 42}, id="name-int"),
    pytest.param({"modified": "2024-01-01 00:00:00", "name": "SUP-001", "deletions": "yesterday"}, id="deletions-string"),
    pytest.param({"modified": "2024-01-01 00:00:00", "name": "SUP-001", "deletions": {"modified": "2024-01-01"}}, id="deletions-no-name"),
    pytest.param({"cursor": {"modified": "2024-01-01"}}, id="foreign-shape"),
]


def _first_list_filters(mock) -> list:
    return [query(r) for r in requests_to(mock, "/api/resource/Supplier")][0]["filters"]


def _restarted_or_resumed(output: EntrypointOutput, mock, stream: str) -> None:
    assert not output.errors, trace_summary(output)
    assert "KeyError" not in log_text(output)
    modified_filters = [f for f in _first_list_filters(mock) if f[0] == "modified" and f[2] != EARLIEST]
    if modified_filters:  # resumed from a date it could read
        assert modified_filters[0][1] == ">=" and modified_filters[0][2].startswith("2024-01-01")
    else:  # restarted: the log says so, naming the stream
        warnings = log_text(output, "WARN")
        assert stream in warnings and "from the beginning" in warnings, log_text(output)
    assert [r.record.data["name"] for r in output.records] == ["SUP-001", "SUP-002"]
    final = output.state_messages[-1].state.stream.stream_state.__dict__
    assert final["modified"] == "2024-02-01 00:00:00.000000" and final["name"] == "SUP-002"


@pytest.mark.parametrize("state", CORRUPT_STATES)
def test_a_corrupt_state_restarts_or_resumes_the_stream_and_never_crashes(site, state):
    site.get(SUPPLIERS, pages([supplier(1, "2024-01-15 00:00:00"), supplier(2, "2024-02-01 00:00:00")]))
    output = _read_with_raw_state(CONFIG, "supplier", [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "supplier"}, "stream_state": state}}])
    _restarted_or_resumed(output, site, "supplier")


def test_an_older_state_without_name_resumes_from_its_date(site):
    site.get(SUPPLIERS, pages([supplier(1, "2024-01-15 00:00:00"), supplier(2, "2024-02-01 00:00:00")]))
    output = read_failing(CONFIG, state={"modified": "2024-01-01"})
    assert not output.errors, trace_summary(output)
    filters = _first_list_filters(site)
    assert ["modified", ">=", "2024-01-01 00:00:00.000000"] in filters
    assert "or_filters" not in query(requests_to(site, "/api/resource/Supplier")[0])
    assert len(output.records) == 2


@pytest.mark.parametrize(
    "raw_state",
    [
        pytest.param([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "supplier"}, "stream_state": "2024-01-01"}}], id="stream-state-string"),
        pytest.param([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "supplier"}, "stream_state": ["2024-01-01"]}}], id="stream-state-list"),
        pytest.param({"supplier": {"modified": "2024-01-01"}}, id="legacy-dict"),
        pytest.param("2024-01-01", id="whole-state-string"),
    ],
)
def test_a_state_of_the_wrong_shape_is_a_clear_error_or_a_restart(site, raw_state):
    site.get(SUPPLIERS, pages([supplier(1, "2024-01-15 00:00:00"), supplier(2, "2024-02-01 00:00:00")]))
    output = _read_with_raw_state(CONFIG, "supplier", raw_state)
    everything = log_text(output) + "\n".join(f"{e.trace.error.message} {e.trace.error.internal_message} {e.trace.error.stack_trace}" for e in output.errors)
    assert "KeyError" not in everything
    if output.errors:  # refused: as a config problem with the state, not a crash of the connector
        assert all(e.trace.error.failure_type == FailureType.config_error for e in output.errors), trace_summary(output)
        assert "state" in output.errors[0].trace.error.message.lower(), trace_summary(output)
    else:
        assert len(output.records) == 2


def test_a_catalog_naming_an_unknown_stream_is_a_clear_config_error(site):
    site.get(f"{BASE_URL}/api/method/frappe.desk.search.search_widget", json={"message": [["Sales Invoice"], ["Item"]]})
    output = read(SourceErpnext(), CONFIG, CatalogBuilder().with_stream("sales_invoices", SyncMode.full_refresh).build(), expected_outcome=ExpectedOutcome.ALLOW_ANY)
    errors = [e.trace.error for e in output.errors]
    assert errors, f"the unknown stream was skipped silently: {[m.type.value for m in output._messages]}"
    assert errors[0].failure_type == FailureType.config_error
    assert "sales_invoices" in f"{errors[0].message} {errors[0].internal_message}"


# -- retries -----------------------------------------------------------------------------------------


def test_429_waits_as_long_as_retry_after_says(site):
    stamps: List[float] = []

    def answer(status: int, body: Dict[str, Any], headers: Dict[str, str]):
        def callback(request, context):
            stamps.append(time.monotonic())
            context.status_code, context.headers = status, {**context.headers, **headers}
            return body
        return {"json": callback}

    site.get(SUPPLIERS, [answer(429, {}, {"Retry-After": "1"}), answer(200, {"data": [supplier(1)]}, {}), answer(200, {"data": []}, {})])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert [r.record.data["name"] for r in output.records] == ["SUP-001"]
    assert len(stamps) == 3
    print(f"\n429 Retry-After: 1 -> next request after {stamps[1] - stamps[0]:.2f} s")
    assert 1.0 <= stamps[1] - stamps[0] < 5.0


def test_a_long_retry_after_is_honoured(site, sleeps):
    site.get(SUPPLIERS, [{"status_code": 429, "text": "Too Many Requests", "headers": {"Retry-After": "7"}}, *pages([supplier(1)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert len(output.records) == 1
    assert len(sleeps) == 1 and sleeps[0] >= 7


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_is_retried_then_the_read_succeeds(site, sleeps, status):
    site.get(SUPPLIERS, [{"status_code": status, "text": NGINX_502.replace("502 Bad Gateway", f"{status} Error"), "headers": {"Content-Type": "text/html"}}, *pages([supplier(1), supplier(2)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert [r.record.data["name"] for r in output.records] == ["SUP-001", "SUP-002"]
    assert len(requests_to(site, "/api/resource/Supplier")) == 3 and len(sleeps) == 1  # 502, page, empty page


def test_502_503_504_in_a_row_are_all_retried(site, sleeps):
    site.get(SUPPLIERS, [{"status_code": 502, "text": NGINX_502}, {"status_code": 503, "json": frappe_error("SessionStopped")}, {"status_code": 504, "text": "Gateway Timeout"}, *pages([supplier(1)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert len(output.records) == 1 and len(requests_to(site, "/api/resource/Supplier")) == 5  # 3 errors, page, empty page
    assert sleeps == sorted(sleeps) and len(sleeps) == 3  # growing waits


def retry_lines(output: EntrypointOutput) -> List[str]:
    return [m.log.message for m in output.logs if "retrying in" in m.log.message]


DB_DOWN = {  # Frappe 15's answer to an API request while MariaDB is down (frappe.utils.response.report_error)
    "exception": "pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on 'db' ([Errno 111] Connection refused)\")",
    "exc_type": "OperationalError",
    "exc": json.dumps(["Traceback (most recent call last):\n  ...\npymysql.err.OperationalError: (2003, ...)\n"]),
}


def test_each_retry_is_logged_with_the_answer_the_attempt_and_the_wait_slept(site, sleeps):
    site.get(SUPPLIERS, [{"status_code": 500, "json": DB_DOWN}, {"status_code": 502, "text": NGINX_502, "headers": {"Content-Type": "text/html"}}, *pages([supplier(1)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert [r.record.data["name"] for r in output.records] == ["SUP-001"]
    assert retry_lines(output) == [
        "ERPNext answered 500 for /api/resource/Supplier: pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on "
        "'db' ([Errno 111] Connection refused)\") (an error of the site's database). Attempt 1 of 7 failed; retrying in 2 s.",
        "The site answered 502 for /api/resource/Supplier with an HTML page (a proxy's error page?): 502 Bad Gateway (the proxy "
        "got no answer from ERPNext's workers: restarting, or killed?). Attempt 2 of 7 failed; retrying in 3 s.",
    ]
    assert sleeps == [2, 3]  # what the log said
    assert "rate limit" not in log_text(output).lower()


def test_a_429_retry_is_logged_as_the_rate_limit(site, sleeps):
    site.get(SUPPLIERS, [{"status_code": 429, "text": "Too Many Requests", "headers": {"Retry-After": "4"}}, *pages([supplier(1)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert retry_lines(output) == ["ERPNext's rate limit: it answered 429 for /api/resource/Supplier: Too Many Requests. Attempt 1 of 7 failed; retrying in 5 s."]
    assert sleeps == [5]


def test_a_refused_connection_is_logged_with_its_cause_not_the_whole_url(site, sleeps):
    refused = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='erp.example.com', port=443): Max retries exceeded with url: /api/resource/Supplier?fields="
        + "%5B%22name%22%5D" * 40 + " (Caused by NewConnectionError(\"Failed to establish a new connection: [Errno 111] Connection refused\"))",
        request=requests.Request("GET", SUPPLIERS).prepare(),  # as requests' HTTPAdapter raises it
    )
    site.get(SUPPLIERS, [{"exc": refused}, *pages([supplier(1)])])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert len(output.records) == 1
    assert retry_lines(output)[0] == (
        "Could not reach the site for /api/resource/Supplier: NewConnectionError(\"Failed to establish a new connection: [Errno 111] "
        "Connection refused\"). Attempt 1 of 7 failed; retrying in 2 s."
    )


def test_a_connection_reset_is_retried_then_the_read_succeeds(site, sleeps):
    reset = requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")
    site.get(SUPPLIERS, [{"exc": reset}, *pages([supplier(1)])])
    site.get(DELETED, [{"exc": reset}, {"json": {"data": []}}])
    output = run_read({**CONFIG, "max_concurrency": 1}, "supplier")
    assert len(output.records) == 1 and not output.errors
    assert len(sleeps) == 2


def test_a_persistent_503_gives_up_after_the_bounded_tries_with_a_transient_error(site, sleeps):
    site.get(SUPPLIERS, status_code=503, json=frappe_error("SessionStopped"))
    output = read_failing({**CONFIG, "max_concurrency": 1})
    error = stream_error(output, "supplier")
    assert error.failure_type == FailureType.transient_error
    assert "503" in error.message and "/api/resource/Supplier" in error.message
    assert re.match(r"Retried for \d+ s, then gave up; the last answer: ERPNext answered 503 for /api/resource/Supplier: SessionStopped", error.message), error.message
    assert len(retry_lines(output)) == erp_http.MAX_RETRIES  # the last attempt is not followed by a retry
    attempts = len(requests_to(site, "/api/resource/Supplier"))
    print(f"\npersistent 503: {attempts} attempts, backoff asked {sum(sleeps):.0f} s in total: {sleeps}")
    assert attempts == erp_http.MAX_RETRIES + 1
    assert sum(sleeps) <= erp_http.MAX_RETRY_TIME.total_seconds()


def test_max_retries_is_respected_when_lowered(site, sleeps, monkeypatch):
    monkeypatch.setattr(erp_http, "MAX_RETRIES", 2)
    site.get(SUPPLIERS, status_code=503, json=frappe_error("SessionStopped"))
    error = stream_error(read_failing({**CONFIG, "max_concurrency": 1}), "supplier")
    assert error.failure_type == FailureType.transient_error
    assert len(requests_to(site, "/api/resource/Supplier")) == 3


def test_check_on_a_site_that_stays_unavailable_is_a_transient_error_not_a_config_failure(requests_mock, sleeps):
    requests_mock.get(LOGGED_USER, status_code=503, json=frappe_error("SessionStopped"))
    output = run_check(CONFIG)
    transient = [e.trace.error for e in output.errors if e.trace.error.failure_type == FailureType.transient_error]
    assert transient, (
        "a site that stays unavailable was reported as a failed connection check (a config problem): "
        + str([m.connectionStatus.message for m in output.connection_status_messages])
    )
    assert "503" in transient[0].message

"""check answers an operator who waits: an unreachable site is retried only briefly; what read will need (the
Deleted Document log when deletions are replicated) is checked; a misnamed child table is explained."""

import json
import re

import pytest
import requests
from airbyte_cdk.models import FailureType, Status
from airbyte_cdk.test.entrypoint_wrapper import _run_command
from airbyte_cdk.test.models.scenario import ExpectedOutcome

from source_erpnext import SourceErpnext, http

from .conftest import BASE_URL, CONFIG


def test_check_on_an_unreachable_site_gives_up_after_a_few_tries(requests_mock, monkeypatch, tmp_path):
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the backoff's waits, not the tries
    requests_mock.get(f"{BASE_URL}/api/method/frappe.auth.get_logged_user", exc=requests.exceptions.ConnectionError("Connection refused"))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    output = _run_command(SourceErpnext(), ["check", "--config", str(config)], expected_outcome=ExpectedOutcome.ALLOW_ANY)
    assert len(requests_mock.request_history) == http.CHECK_RETRIES + 1 < http.MAX_RETRIES + 1
    errors = [e.trace.error for e in output.errors]
    assert errors and errors[0].failure_type == FailureType.transient_error
    assert "Could not reach the site: Connection refused" in errors[0].message


def _check(requests_mock, tmp_path, **config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**CONFIG, **config}))
    output = _run_command(SourceErpnext(), ["check", "--config", str(path)], expected_outcome=ExpectedOutcome.ALLOW_ANY)
    statuses = [m.connectionStatus for m in output._messages if m.connectionStatus]
    assert len(statuses) == 1
    return statuses[0]


@pytest.fixture
def site_without_deleted_document(requests_mock):
    """Every DocType readable but Deleted Document, as a standard installation has it for a non-System Manager."""
    requests_mock.get(f"{BASE_URL}/api/method/frappe.auth.get_logged_user", json={"message": "reader@example.com"})
    requests_mock.get(re.compile(re.escape(f"{BASE_URL}/api/resource/")), json={"data": []})
    body = {"exc_type": "PermissionError", "_server_messages": json.dumps([json.dumps({"message": "No permission for Deleted Document"})])}
    requests_mock.get(f"{BASE_URL}/api/resource/Deleted%20Document", status_code=403, json=body)
    return requests_mock


def test_check_with_deletions_on_verifies_the_deleted_document_log_and_names_both_ways_out(site_without_deleted_document, tmp_path):
    status = _check(site_without_deleted_document, tmp_path)
    assert status.status == Status.FAILED
    assert "Deleted Document" in status.message and "reader@example.com" in status.message
    assert "Read permission on Deleted Document" in status.message and "turn Replicate Deletions off" in status.message


def test_check_with_deletions_off_does_not_need_the_deleted_document_log(site_without_deleted_document, tmp_path):
    assert _check(site_without_deleted_document, tmp_path, sync_deletions=False).status == Status.SUCCEEDED


def test_a_child_table_named_as_an_additional_doctype_is_explained(requests_mock, tmp_path):
    """Frappe refuses to list a child DocType on its own (403, even for Administrator); its metadata, asked with
    with_parent, names the parent (frappe.desk.form.load.getdoctype -> get_parent_dt)."""
    requests_mock.get(f"{BASE_URL}/api/method/frappe.auth.get_logged_user", json={"message": "Administrator"})
    requests_mock.get(re.compile(re.escape(f"{BASE_URL}/api/resource/")), json={"data": []})
    requests_mock.get(f"{BASE_URL}/api/resource/Sales%20Order%20Item", status_code=403, json={"exc_type": "PermissionError"})
    parent_meta = {"name": "Sales Order", "fields": [{"fieldname": "items", "fieldtype": "Table", "options": "Sales Order Item"}]}
    child_meta = {"name": "Sales Order Item", "istable": 1, "fields": [{"fieldname": "item_code", "fieldtype": "Link"}]}
    requests_mock.get(f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype", json={"docs": [], "user_settings": "{}"})
    requests_mock.get(
        f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype?doctype=Sales+Order+Item",
        json={"docs": [parent_meta, child_meta], "parent_dt": "Sales Order", "user_settings": "{}"},
    )
    status = _check(requests_mock, tmp_path, additional_doctypes=["Sales Order Item"])
    assert status.status == Status.FAILED
    assert "'Sales Order Item' is a child table of Sales Order" in status.message
    assert "field 'items'" in status.message and "Remove 'Sales Order Item' from Additional DocTypes" in status.message
    assert "grant" not in status.message.lower() and "Read permission" not in status.message


def test_discover_without_the_doctype_list_still_lists_the_configured_streams(requests_mock):
    """A site that refuses the DocType list (an old Frappe, a method blocked by a proxy) costs the catalog its other
    DocTypes, said in the log, not the discover; the request sent is the one documented for Frappe 15 and 16."""
    from airbyte_cdk.test.entrypoint_wrapper import discover

    requests_mock.get(f"{BASE_URL}/api/method/frappe.auth.get_logged_user", json={"message": "reader@example.com"})
    requests_mock.get(re.compile(re.escape(f"{BASE_URL}/api/resource/")), json={"data": []})
    requests_mock.get(f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype", status_code=403, json={"exc_type": "PermissionError"})
    body = {"exc_type": "ValidationError", "_server_messages": json.dumps([json.dumps({"message": "Failed to get method for command"})])}
    listing = requests_mock.get(f"{BASE_URL}/api/method/frappe.desk.search.search_widget", status_code=417, json=body)
    output = discover(SourceErpnext(), {**CONFIG, "max_concurrency": 1})
    assert [s.name for s in output.catalog.catalog.streams] == ["item", "bin", "sales_order", "supplier", "customer", "purchase_order", "stock_entry", "warehouse"]
    assert any("Could not list the site's DocTypes" in m.log.message and "Failed to get method" in m.log.message for m in output.logs)
    sent = listing.request_history[0].qs
    assert sent["doctype"] == ["doctype"] and json.loads(listing.request_history[0].qs["filters"][0]) == [["istable", "=", 0], ["issingle", "=", 0], ["is_virtual", "=", 0]]

"""check answers an operator who waits: an unreachable site is retried only briefly."""

import json

import requests
from airbyte_cdk.models import FailureType
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

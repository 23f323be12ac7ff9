import json
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from airbyte_cdk.models import AirbyteStateBlob, AirbyteStateMessage, AirbyteStateType, AirbyteStreamState, StreamDescriptor, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_erpnext import SourceErpnext

BASE_URL = "https://erp.example.com"
CONFIG = {"base_url": BASE_URL, "api_key": "unit-key", "api_secret": "unit-secret", "lookback_window_minutes": 0}


def query(request) -> Dict[str, Any]:
    """The query of a mocked request, JSON parameters decoded."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    for key in ("fields", "filters", "or_filters"):
        if key in params:
            params[key] = json.loads(params[key])
    return params


def catalog(stream: str, mode: SyncMode = SyncMode.incremental):
    return CatalogBuilder().with_stream(stream, mode).build()


def stream_state(stream: str, state: Dict[str, Any]) -> List[AirbyteStateMessage]:
    return [
        AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(**state)),
        )
    ]


def run_read(config: Dict[str, Any], stream: str, mode: SyncMode = SyncMode.incremental, state: Optional[Dict[str, Any]] = None, expect_failure: bool = False):
    from airbyte_cdk.test.models.scenario import ExpectedOutcome

    outcome = ExpectedOutcome.ALLOW_ANY if expect_failure else ExpectedOutcome.EXPECT_SUCCESS
    return read(SourceErpnext(), config, catalog(stream, mode), stream_state(stream, state) if state else None, expected_outcome=outcome)


@pytest.fixture
def no_metadata(requests_mock):
    """The site refuses metadata, so streams use the bundled schemas (and the log says so)."""
    requests_mock.get(f"{BASE_URL}/api/method/frappe.desk.form.load.getdoctype", status_code=403, json={"exc_type": "PermissionError"})
    requests_mock.get(f"{BASE_URL}/api/resource/Deleted%20Document", json={"data": []})
    requests_mock.get(f"{BASE_URL}/api/method/frappe.client.get_count", json={"message": 5})  # too few to split
    return requests_mock


@pytest.fixture(autouse=True)
def site_time_zone(request):
    """Every mocked site answers System Settings' time_zone (read once per incremental sync) with a zone without DST."""
    if "requests_mock" in request.fixturenames:
        request.getfixturevalue("requests_mock").get(f"{BASE_URL}/api/method/frappe.client.get_single_value", json={"message": "UTC"})
    if "requests_mock" in request.fixturenames:  # and no newest `modified`: a full refresh reads in one open scan
        request.getfixturevalue("requests_mock").get(f"{BASE_URL}/api/method/frappe.client.get_list", json={"message": []})
    if "requests_mock" in request.fixturenames:  # and a Frappe 15, which indexes `modified`: pages go over it
        versions = {"frappe": {"title": "Frappe Framework", "version": "15.103.0"}, "erpnext": {"title": "ERPNext", "version": "15.102.0"}}
        request.getfixturevalue("requests_mock").get(f"{BASE_URL}/api/method/frappe.utils.change_log.get_versions", json={"message": versions})

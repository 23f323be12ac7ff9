"""Which key a DocType's pages go over: from Frappe's version, the DocType's sort field and a hand-added index."""

import logging

from source_erpnext.http import http_client
from source_erpnext.indexes import frappe_major, has_modified_index, read_key
from source_erpnext.spec import parse_config

from .conftest import BASE_URL, CONFIG

VERSIONS = f"{BASE_URL}/api/method/frappe.utils.change_log.get_versions"
PROPERTY_SETTERS = f"{BASE_URL}/api/resource/Property%20Setter"
SETTINGS = parse_config(CONFIG)
LOGGER = logging.getLogger("airbyte")


def client():
    return http_client("test", SETTINGS, LOGGER, max_retries=0)


def test_the_frappe_version_is_read_and_a_site_that_does_not_say_reads_over_modified_with_a_warning(requests_mock, caplog):
    requests_mock.get(VERSIONS, json={"message": {"frappe": {"version": "16.13.0"}}})
    assert frappe_major(client(), SETTINGS, LOGGER) == 16
    requests_mock.get(VERSIONS, status_code=403, json={"exc_type": "PermissionError"})
    assert frappe_major(client(), SETTINGS, LOGGER) is None
    assert any("did not say which Frappe version" in r.getMessage() for r in caplog.records)
    assert read_key(has_modified_index(client(), SETTINGS, "Sales Order", "creation", None)) == "modified"


def test_frappe_16_indexes_modified_only_when_sorted_by_it_or_given_the_index_by_hand(requests_mock):
    assert has_modified_index(client(), SETTINGS, "Sales Order", "creation", 15) is True  # v15: every table
    assert has_modified_index(client(), SETTINGS, "Sales Order", "modified", 16) is True
    setters = requests_mock.get(PROPERTY_SETTERS, json={"data": []})
    assert has_modified_index(client(), SETTINGS, "Sales Order", "creation", 16) is False
    asked = {f[0]: f[2] for f in __import__("json").loads(setters.last_request.qs["filters"][0])}
    assert asked == {"doc_type": "sales order", "field_name": "modified", "property": "search_index", "value": "1"}
    requests_mock.get(PROPERTY_SETTERS, json={"data": [{"name": "x"}]})
    assert has_modified_index(client(), SETTINGS, "Sales Order", "creation", 16) is True
    requests_mock.get(PROPERTY_SETTERS, status_code=403, json={"exc_type": "PermissionError"})
    assert has_modified_index(client(), SETTINGS, "Sales Order", None, 16) is None
    assert read_key(None) == "creation"

"""Frappe writes Time values with frappe.utils.format_timedelta ('2:09:6.837815': hours and seconds unpadded), as the
test server does; records carry them as the schema's `time` format says (02:09:06.837815), valid for destinations."""

import re

import jsonschema
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.erpnext_server import API_KEY, API_SECRET, ErpnextTestServer
from source_erpnext import SourceErpnext


def test_time_values_are_iso_times_in_records():
    with ErpnextTestServer(items=60, seed=4) as srv:
        sent = [r["posting_time"] for r in srv.records("Stock Entry") if r.get("posting_time")]
        assert any(re.match(r"^\d:", t) for t in sent)  # the server answers as Frappe does: unpadded hours
        config = {"base_url": srv.url, "api_key": API_KEY, "api_secret": API_SECRET}
        source = SourceErpnext()
        output = read(source, config, CatalogBuilder().with_stream("stock_entry", SyncMode.full_refresh).build())
        schema = next(s for s in source.streams(config) if s.name == "stock_entry").get_json_schema()
    times = [m.record.data["posting_time"] for m in output.records if m.record.data.get("posting_time")]
    assert len(times) == len(sent) > 0
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d(\.\d+)?", t) for t in times), times[:5]
    checker = jsonschema.FormatChecker()
    for message in output.records:
        jsonschema.validate(message.record.data, schema, format_checker=checker)

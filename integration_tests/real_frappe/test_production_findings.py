"""What real Frappe showed (request lines, query plans, child tables, the rate limit), proven on the real site: the
connector's queries as MariaDB plans them, and its answers to a child table named as a stream and to a used-up rate
limit. Test ids name the Frappe version."""

import json
import time
import urllib.error
import urllib.request

import pytest
from airbyte_cdk.models import Status, Type

from .conftest import Connector, Site

pytestmark = pytest.mark.real_frappe

PROBE_ROWS = 20000
EARLIEST = "0001-01-01 00:00:00.000000"  # the connector's floor (source_erpnext/keyset.py)

# Frappe's own SQL for a list request (DatabaseQuery, as /api/resource runs it), EXPLAINed on a copy of Supplier's table
# (same columns and indexes) that holds PROBE_ROWS documents, a fifth of them sharing one `modified`. Supplier sorts by
# `modified` (ERPNext's definition), so every version indexes it; Frappe 16 indexes `modified` only for such DocTypes
# (and `creation` for all), see docs/real-frappe.md.
EXPLAIN_SNIPPET = """
import json
from frappe.model.db_query import DatabaseQuery
rows, probe = {rows}, "tabExplain Probe"
frappe.db.sql_ddl(f"drop table if exists `{{probe}}`")
frappe.db.sql_ddl(f"create table `{{probe}}` like `tabSupplier`")
frappe.db.sql(f\"\"\"insert into `{{probe}}` (name, creation, modified, modified_by, owner, docstatus, idx, supplier_name)
    select concat('SUP-', lpad(seq, 6, '0')), '2025-01-01' + interval seq minute,
        if(seq % 5 = 0, '2025-06-01 12:00:00', '2025-01-01' + interval seq minute), 'Administrator', 'Administrator', 0, 0,
        concat('Supplier ', seq) from seq_1_to_{{rows}}\"\"\")
frappe.db.sql(f"analyze table `{{probe}}`")
page = 500
middle = frappe.db.sql(f"select modified, name from `{{probe}}` order by modified, name limit 1 offset {{rows // 3}}")[0]
shapes = {{
    "first page": dict(filters=[["modified", ">=", {earliest!r}]]),
    "next page": dict(filters=[["modified", ">=", str(middle[0])]], or_filters=[["modified", ">", str(middle[0])], ["name", ">", middle[1]]]),
    "in a range": dict(filters=[["modified", ">=", str(middle[0])], ["modified", "<", "2025-01-10"]], or_filters=[["modified", ">", str(middle[0])], ["name", ">", middle[1]]]),
    "first page without a condition (before)": dict(filters=[]),
}}
result = {{}}
for shape, args in shapes.items():
    sql = DatabaseQuery("Supplier").execute(fields=["*"], order_by="modified asc, name asc", limit_page_length=page, run=False, **args)
    plan = frappe.db.sql("explain " + sql.replace("`tabSupplier`", f"`{{probe}}`"), as_dict=True)
    result[shape] = {{"sql": sql, "plan": [{{k: (str(v) if v is not None else None) for k, v in row.items()}} for row in plan]}}
frappe.db.sql_ddl(f"drop table `{{probe}}`")
"""


def test_every_page_is_answered_from_the_modified_index(site: Site):
    plans = site.run(EXPLAIN_SNIPPET.format(rows=PROBE_ROWS, earliest=EARLIEST))
    for shape in ("first page", "next page", "in a range"):
        plan = plans[shape]["plan"]
        assert len(plan) == 1, plan
        row = plan[0]
        assert row["key"] == "modified" and row["type"] in ("range", "ref"), f"{shape}: {plans[shape]['sql']}\n{row}"
        assert "filesort" not in (row.get("Extra") or ""), f"{shape}: {plans[shape]['sql']}\n{row}"
    # The shape the connector sent before: no condition on `modified`, a scan and sort of the whole table.
    before = plans["first page without a condition (before)"]["plan"][0]
    assert before["type"] == "ALL" and "filesort" in (before.get("Extra") or ""), before


def test_a_child_table_named_as_an_additional_doctype_is_explained(site: Site, connector: Connector):
    result = connector.run("check", config=site.config(additional_doctypes=["Sales Order Item"]))
    statuses = [m.connectionStatus for m in result.messages if m.type == Type.CONNECTION_STATUS]
    assert len(statuses) == 1 and statuses[0].status == Status.FAILED, result.why()
    message = statuses[0].message
    assert "'Sales Order Item' is a child table of Sales Order" in message and "field 'items'" in message, message
    assert "Read permission" not in message


def rate_limit_headers(site: Site) -> bool:
    """Whether the site's answer carries Frappe's rate-limit headers (the limit is on)."""
    api = site.config()
    request = urllib.request.Request(site.base_url + "/api/method/frappe.auth.get_logged_user", headers={"Authorization": f"token {api['api_key']}:{api['api_secret']}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return "X-RateLimit-Limit" in answer.headers
    except urllib.error.HTTPError as refused:
        return "X-RateLimit-Limit" in refused.headers


def wait_for_rate_limit(site: Site, on: bool) -> None:
    """Frappe 16 keeps the site config in each worker's memory for 60 s: wait until every answer agrees."""
    deadline, agreeing = time.monotonic() + 150, 0
    while agreeing < 6:
        assert time.monotonic() < deadline, f"the site's rate limit did not turn {'on' if on else 'off'}"
        agreeing = agreeing + 1 if rate_limit_headers(site) == on else 0
        time.sleep(0.5 if agreeing else 2)


RATE_LIMIT_SNIPPET = """
from frappe.installer import update_site_config
update_site_config("rate_limit", {limit})
result = frappe.get_site_config().get("rate_limit")
"""


def test_a_used_up_rate_limit_stops_the_sync_at_once_with_its_state(site: Site, connector: Connector):
    """Frappe's rate limit counts server time per window; once it is used up, 429 with Retry-After until the window
    ends. The connector stops at once (no retries for minutes), says when the limit resets, and keeps its state."""
    config = site.config(page_size=20, max_concurrency=1)
    discovered = connector.discover(config)
    catalog = {"streams": [{"stream": discovered[name], "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
                            "cursor_field": ["modified"], "primary_key": [["name"]]} for name in ("supplier", "customer")]}
    # 20 ms of server time per hour: the first request uses it up.
    assert site.run(RATE_LIMIT_SNIPPET.format(limit=json.dumps({"limit": 0.02, "window": 3600}))) == {"limit": 0.02, "window": 3600}
    try:
        wait_for_rate_limit(site, on=True)
        started = time.monotonic()
        result = connector.run("read", config=config, catalog=catalog)
        took = time.monotonic() - started
    finally:
        site.run(RATE_LIMIT_SNIPPET.format(limit="None"))
        wait_for_rate_limit(site, on=False)
    errors = result.errors()
    assert result.returncode != 0 and errors, result.why()
    assert any("rate limit is used up" in e and "UTC" in e and "fewer streams" in e for e in errors), errors
    assert took < 120, f"the read took {took:.0f} s: it waited for a limit that resets in up to an hour"
    kinds = [m.type for m in result.messages if m.type in (Type.RECORD, Type.STATE)]
    if Type.RECORD in kinds:  # what was read before the limit is kept: a state follows the last record
        assert Type.STATE in kinds[kinds.index(Type.RECORD):], kinds[-5:]

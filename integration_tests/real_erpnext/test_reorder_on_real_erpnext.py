"""The demo's answer to "which items need reordering?" (queries/ over what PyAirbyte syncs into DuckDB) against
ERPNext's own reorder job on a real site: the Material Request lines `erpnext.stock.reorder_item.reorder_item()` raises
(Stock Settings `auto_indent` on), then removed again."""

import os
from collections import Counter

import pytest

import queries
from integration_tests import reorder_rule
from integration_tests.real_site import SOURCE, Site

pytestmark = pytest.mark.real_erpnext
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")

REORDER_JOB_SNIPPET = """
from erpnext.stock.reorder_item import reorder_item
before = set(frappe.get_all("Material Request", pluck="name"))
errors_before = frappe.db.count("Error Log")
frappe.db.set_single_value("Stock Settings", "auto_indent", 1)
reorder_item()
lines = []
for name in [n for n in frappe.get_all("Material Request", pluck="name") if n not in before]:
    doc = frappe.get_doc("Material Request", name)
    lines += [{"item": r.item_code, "warehouse": r.warehouse, "qty_to_request": r.stock_qty, "type": doc.material_request_type} for r in doc.items]
    if doc.docstatus == 1:
        doc.cancel()
    frappe.delete_doc("Material Request", name)
result = {"lines": lines, "job_errors": frappe.db.count("Error Log") - errors_before}
"""


def test_the_reorder_query_gives_the_answer_of_erpnexts_reorder_job(site: Site, tmp_path):
    ab = pytest.importorskip("airbyte")
    from airbyte.caches import DuckDBCache

    cache = DuckDBCache(db_path=tmp_path / "erpnext.duckdb", cache_dir=tmp_path / "pyairbyte")
    source = ab.get_source("source-erpnext", local_executable=str(SOURCE), config=site.config())
    source.select_streams(["item", "bin", "warehouse"])
    source.read(cache=cache)
    rows = queries.reorder_requests(cache.get_sql_engine(), "duckdb")

    job = site.run(REORDER_JOB_SNIPPET)
    assert job["job_errors"] == 0, "ERPNext's reorder job logged errors: its answer is incomplete"
    assert len(job["lines"]) >= 5, f"ERPNext's reorder job raised {len(job['lines'])} lines: the comparison would prove little"
    assert {line["type"] for line in job["lines"]} >= {"Purchase", "Material Transfer"}, job["lines"]
    assert Counter(map(reorder_rule.key, rows)) == Counter(map(reorder_rule.key, job["lines"]))

"""The shipped reorder query (queries/) on what the connector syncs from a real Frappe site into PyAirbyte's DuckDB
cache, row for row against ERPNext's rule (integration_tests/reorder_rule.py) computed from the site's own tables."""

import os
from collections import Counter

import pytest

import queries
from integration_tests import reorder_rule

from .conftest import SOURCE, Site

pytestmark = pytest.mark.real_frappe
os.environ.setdefault("AIRBYTE_OFFLINE_MODE", "1")

TABLES_SNIPPET = """
result = {
    "items": frappe.db.sql("select name, item_name, disabled, is_stock_item, has_variants, variant_of, end_of_life from tabItem", as_dict=True),
    "rules": frappe.db.sql("select parent, parenttype, parentfield, idx, warehouse, warehouse_group, warehouse_reorder_level, "
                           "warehouse_reorder_qty, material_request_type from `tabItem Reorder`", as_dict=True),
    "bins": frappe.db.sql("select item_code, warehouse, projected_qty from tabBin", as_dict=True),
    "warehouses": frappe.db.sql("select name, disabled, is_group, parent_warehouse from tabWarehouse", as_dict=True),
}
"""


def test_the_reorder_query_gives_erpnexts_answer_on_a_real_site(site: Site, tmp_path):
    ab = pytest.importorskip("airbyte")
    from airbyte.caches import DuckDBCache

    cache = DuckDBCache(db_path=tmp_path / "erpnext.duckdb", cache_dir=tmp_path / "pyairbyte")
    source = ab.get_source("source-erpnext", local_executable=str(SOURCE), config=site.config())
    source.select_streams(["item", "bin", "warehouse"])
    source.read(cache=cache)
    rows = queries.reorder_requests(cache.get_sql_engine(), "duckdb")

    tables = site.run(TABLES_SNIPPET)
    items = reorder_rule.items_with_rules(tables["items"], tables["rules"])
    expected = reorder_rule.reorder_requests(items, tables["bins"], tables["warehouses"])
    assert expected, "the site's data holds no due reorder rule: the comparison would prove nothing"
    assert Counter(map(reorder_rule.key, rows)) == Counter(map(reorder_rule.key, expected))

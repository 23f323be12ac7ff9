"""ERPNext's reorder rule in plain Python: the reference the shipped SQL (queries/) is checked against.

Written from ERPNext's own job, `erpnext/stock/reorder_item.py` (`_reorder_item`, `get_items_for_reorder`,
`get_reorder_levels_for_variants`, `get_item_warehouse_projected_qty`), step by step and independently of the SQL,
over the documents as the site holds them (lists of dicts, as the REST API or the test server's tables give them):

- items: Item documents with `name`, `item_name`, `disabled`, `is_stock_item`, `has_variants`, `variant_of`,
  `end_of_life` and `reorder_levels` (their Item Reorder rows: `warehouse`, `warehouse_group`,
  `warehouse_reorder_level`, `warehouse_reorder_qty`, `material_request_type`);
- bins: Bin documents with `item_code`, `warehouse`, `projected_qty`;
- warehouses: Warehouse documents with `name`, `parent_warehouse`, `disabled`.

A real-Frappe test can call `reorder_requests` with what it reads from the site's API.
"""

from collections import defaultdict
from datetime import date
from typing import Dict, Iterable, List, Optional


def flt(value) -> float:
    """frappe.utils.flt without precision: None and '' are 0."""
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _considered(item: dict, today: str) -> bool:
    """get_items_for_reorder's filter: enabled stock items not past their end of life."""
    eol = item.get("end_of_life")
    return (int(item.get("disabled") or 0) == 0 and int(item.get("is_stock_item") or 0) == 1
            and (not eol or str(eol) == "0000-00-00" or str(eol)[:10] > today))


def items_with_rules(items: Iterable[dict], rules: Iterable[dict]) -> List[dict]:
    """Item rows plus their Item Reorder rows (from separate tables, as the test server keeps them) as documents."""
    by_parent = defaultdict(list)
    for rule in sorted(rules, key=lambda r: (r.get("parent"), r.get("idx") or 0)):
        if rule.get("parenttype", "Item") == "Item" and rule.get("parentfield", "reorder_levels") == "reorder_levels":
            by_parent[rule["parent"]].append(rule)
    return [dict(item, reorder_levels=by_parent.get(item["name"], [])) for item in items]


def reorder_requests(items: Iterable[dict], bins: Iterable[dict], warehouses: Iterable[dict],
                     today: Optional[str] = None) -> List[dict]:
    """The Material Request lines ERPNext's reorder job would raise today, one per due rule:
    {item, item_name, warehouse, projected_qty, reorder_level, qty_to_request, request_type} (stock UOM; the job
    converts Purchase lines to the purchase UOM and rounds up whole-number UOMs when it creates the request)."""
    today = today or date.today().isoformat()
    items = list(items)
    warehouses = list(warehouses)

    # get_items_for_reorder: rule rows joined with their item, each row carrying its item's has_variants.
    considered = {i["name"]: i for i in items if _considered(i, today)}
    itemwise = {}
    for code, item in considered.items():
        rows = [dict(r, has_variants=int(item.get("has_variants") or 0)) for r in item.get("reorder_levels") or []]
        if rows:
            itemwise[code] = rows
    # get_reorder_levels_for_variants: a variant without rows of its own takes its template's rows (as they are:
    # they keep the template's has_variants).
    for code, item in considered.items():
        template = item.get("variant_of")
        if template and not itemwise.get(code) and itemwise.get(template):
            itemwise[code] = list(itemwise[template])

    # warehouse_company: the enabled warehouses (`select name, company from tabWarehouse where disabled=0`).
    enabled_warehouses = {w["name"] for w in warehouses if int(w.get("disabled") or 0) == 0}
    # get_item_warehouse_projected_qty: each Bin's projected_qty on its warehouse and on every warehouse above it
    # (parent_warehouse of every warehouse, disabled ones too).
    parent_of = {w["name"]: w.get("parent_warehouse") for w in warehouses}
    projected: Dict[str, Dict[str, float]] = {}
    for b in bins:
        code, warehouse = b.get("item_code"), b.get("warehouse")
        if code not in itemwise or not warehouse:
            continue
        per_item = projected.setdefault(code, {})
        if warehouse not in per_item:
            per_item[warehouse] = flt(b.get("projected_qty"))
        parent = parent_of.get(warehouse)
        while parent:
            if not per_item.get(parent):
                per_item[parent] = flt(b.get("projected_qty"))
            else:
                per_item[parent] += flt(b.get("projected_qty"))
            parent = parent_of.get(parent)

    requests = []
    for code, rows in itemwise.items():
        for d in rows:
            if d["has_variants"]:
                continue
            warehouse = d.get("warehouse")
            if warehouse not in enabled_warehouses:  # "a disabled warehouse"
                continue
            level, qty = flt(d.get("warehouse_reorder_level")), flt(d.get("warehouse_reorder_qty"))
            # "projected_qty will be 0 if Bin does not exist"
            projected_qty = flt(projected.get(code, {}).get(d.get("warehouse_group") or warehouse))
            if (level or qty) and projected_qty <= level:
                deficiency = level - projected_qty
                if deficiency > qty:
                    qty = deficiency
                requests.append({"item": code, "item_name": considered[code].get("item_name"), "warehouse": warehouse,
                                 "projected_qty": projected_qty, "reorder_level": level, "qty_to_request": qty,
                                 "request_type": d.get("material_request_type")})
    return requests


def from_test_server(srv, today: Optional[str] = None) -> List[dict]:
    """reorder_requests over everything the ERPNext test server holds (its own tables, not a sync)."""
    return reorder_requests(items_with_rules(srv.records("Item"), srv.records("Item Reorder")), srv.records("Bin"),
                            srv.records("Warehouse"), today=today)


def key(request: dict):
    """(item, warehouse, quantity to request) of a request line, quantity rounded for comparison."""
    return request["item"], request["warehouse"], round(float(request["qty_to_request"]), 6)

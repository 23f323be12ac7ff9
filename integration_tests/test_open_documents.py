"""Changes ERPNext makes without moving `modified` reach the destination in the next incremental sync: each one first
reads again the DocType's open documents (source_erpnext/doctypes.py OPEN_DOCUMENTS), at a cost that follows the number
of open documents, not the history. The test server changes them as ERPNext's code does (values set, `modified` kept)."""

import math
from typing import Dict, List

from airbyte_cdk.models import SyncMode

from integration_tests.erpnext_server import data
from integration_tests.test_sync import config_for, final_state, sync

PAGE_SIZE = 25
INVOICES = ["sales_invoice", "purchase_invoice"]


def records(output, stream: str) -> Dict[str, dict]:
    return {m.record.data["name"]: m.record.data for m in output.records if m.record.stream == stream}


def open_invoices(srv, doctype: str) -> List[str]:
    return [r["name"] for r in srv.records(doctype) if r["docstatus"] == 1 and r["outstanding_amount"] > 0]


def test_invoices_turned_overdue_by_erpnexts_daily_job_come_in_the_next_incremental_read(make_erpnext_server):
    srv = make_erpnext_server(items=100, seed=11)
    config = config_for(srv, additional_doctypes=["Sales Invoice", "Purchase Invoice"], lookback_window_minutes=0, page_size=PAGE_SIZE)
    first = sync(config, INVOICES)
    assert {r["status"] for r in records(first, "sales_invoice").values()} >= {"Unpaid", "Paid"}

    changed = srv.update_invoice_status(today="2025-06-01")  # update_invoice_status: status set, modified left alone
    assert {d for d, _ in changed} == {"Sales Invoice", "Purchase Invoice"}
    after_job = {(d, n): r for d in ("Sales Invoice", "Purchase Invoice") for r in srv.records(d) for n in [r["name"]]}
    assert all(after_job[key]["modified"] == records(first, key[0].lower().replace(" ", "_"))[key[1]]["modified"] for key in changed)

    without = sync(dict(config, refresh_open_documents=False), INVOICES, state=final_state(first))
    assert not without.records, "nothing moved `modified`: a read of changes alone sees none of them"

    second = sync(config, INVOICES, state=final_state(first))
    for doctype, name in changed:
        record = records(second, doctype.lower().replace(" ", "_"))[name]
        assert record["status"] in ("Overdue", "Overdue and Discounted"), (name, record["status"])
    # What came again is the open invoices (submitted, outstanding), not every invoice.
    for stream, doctype in zip(INVOICES, ("Sales Invoice", "Purchase Invoice")):
        assert set(records(second, stream)) == set(open_invoices(srv, doctype))
        assert len(open_invoices(srv, doctype)) < len(srv.records(doctype))


def test_orders_picked_delivered_or_received_without_modified_come_in_the_next_incremental_read(make_erpnext_server):
    srv = make_erpnext_server(items=200, seed=12)
    config = config_for(srv, lookback_window_minutes=0, page_size=PAGE_SIZE)
    first = sync(config, ["sales_order", "purchase_order"])

    def open_orders(doctype):
        return sorted(r["name"] for r in srv.records(doctype) if r["docstatus"] == 1 and r["status"] != "Completed")

    picked, drop_shipped = open_orders("Sales Order")[:2]
    received = open_orders("Purchase Order")[0]
    srv.set_silently("Sales Order", picked, per_picked=100.0)  # SalesOrder.update_picking_status (Pick List submit)
    srv.set_silently("Sales Order", drop_shipped, per_delivered=100.0)  # SalesOrder.update_delivery_status (drop ship)
    srv.set_silently("Purchase Order", received, per_received=40.0)  # PurchaseOrder.update_receiving_percentage

    second = sync(config, ["sales_order", "purchase_order"], state=final_state(first))
    orders, purchases = records(second, "sales_order"), records(second, "purchase_order")
    assert orders[picked]["per_picked"] == 100.0 and orders[drop_shipped]["per_delivered"] == 100.0
    assert purchases[received]["per_received"] == 40.0
    assert orders[picked]["items"], "an open order comes with its child rows"
    assert set(orders) == set(open_orders("Sales Order")) and set(purchases) == set(open_orders("Purchase Order"))
    assert not set(orders) & {r["name"] for r in srv.records("Sales Order") if r["status"] == "Completed"}


def test_the_refresh_costs_one_request_per_page_of_open_documents(make_erpnext_server):
    """Requests a sync adds: ceil(open / page_size) list pages per DocType (one more to see the end when the last page
    is full), plus their child-row requests; counted by the server, with the refresh on and off."""
    srv = make_erpnext_server(items=400, seed=13)
    streams = ["sales_order", "purchase_order", "item", "sales_invoice"]
    config = config_for(srv, additional_doctypes=["Sales Invoice"], lookback_window_minutes=0, page_size=PAGE_SIZE, max_concurrency=1, sync_deletions=False)
    state = final_state(sync(config, streams))

    def requests(cfg):
        srv.reset_stats()
        sync(cfg, streams, state=state)
        return srv.stats()["requests"]

    off, on = requests(dict(config, refresh_open_documents=False)), requests(config)
    opened = {
        "Sales Order": sum(1 for r in srv.records("Sales Order") if r["docstatus"] == 1 and r["status"] != "Completed"),
        "Purchase Order": sum(1 for r in srv.records("Purchase Order") if r["docstatus"] == 1 and r["status"] != "Completed"),
        "Sales Invoice": len(open_invoices(srv, "Sales Invoice")),
    }
    for doctype, count in opened.items():
        path = f"/api/resource/{doctype}"
        added = on.get(path, 0) - off.get(path, 0)
        pages = math.ceil(count / PAGE_SIZE)
        assert pages <= added <= pages + 1, f"{doctype}: {added} more list requests for {count} open documents"
        assert count < len(srv.records(doctype))
    assert on.get("/api/resource/Item") == off.get("/api/resource/Item"), "Item declares no open documents"
    children = {p: on.get(p, 0) - off.get(p, 0) for p in ("/api/resource/Sales Order Item", "/api/resource/Purchase Order Item")}
    for path, added in children.items():
        parent = "Sales Order" if "Sales" in path else "Purchase Order"
        assert 0 < added <= 2 * (math.ceil(opened[parent] / PAGE_SIZE) + 1), f"{path}: {added}"
    total_added = sum(on.values()) - sum(off.values())
    print(f"refresh of open documents: {total_added} more requests ({opened})")
    # Each page of open documents: its list request and a request per child table (every table the DocType has).
    tables = {dt: sum(1 for f in data.DOCTYPES[dt][2] if f["fieldtype"] == "Table") for dt in opened}
    assert total_added <= sum((1 + 2 * tables[dt]) * (math.ceil(c / PAGE_SIZE) + 1) for dt, c in opened.items())


def test_a_full_refresh_emits_open_documents_once(make_erpnext_server):
    srv = make_erpnext_server(items=100, seed=14)
    output = sync(config_for(srv, additional_doctypes=["Sales Invoice"]), ["sales_order", "sales_invoice"], SyncMode.full_refresh)
    for stream in ("sales_order", "sales_invoice"):
        names = [m.record.data["name"] for m in output.records if m.record.stream == stream]
        assert names and len(names) == len(set(names))

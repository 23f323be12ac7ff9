"""The streams, as data: which DocType each reads, its child tables, and which config filters apply to it."""

import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional

from .schemas import DocTypeMeta
from .spec import ErpnextConfig


@dataclass(frozen=True)
class DocType:
    stream: str
    doctype: str
    # Child tables carried inside each record: record field -> child DocType.
    child_tables: Dict[str, str] = field(default_factory=dict)
    disabled_field: Optional[str] = None  # filtered to 0 unless include_disabled
    company_field: Optional[str] = None  # filtered by the `company` setting
    warehouse_field: Optional[str] = None  # filtered by the `warehouses` setting
    submittable: bool = False  # filtered to docstatus 1 by `submitted_only`

    def status(self, config: ErpnextConfig) -> Dict[str, int]:
        """What a document must hold to be replicated that it can stop holding later (disabled, cancelled): field -> value."""
        status = {}
        if self.disabled_field and not config.include_disabled:
            status[self.disabled_field] = 0
        if self.submittable and config.submitted_only:
            status["docstatus"] = 1
        return status

    def filters(self, config: ErpnextConfig, with_status: bool = True) -> List[list]:
        """The config's filters as Frappe list filters, applied by the server."""
        status = self.status(config) if with_status else {}
        filters = [[self.disabled_field, "=", status[self.disabled_field]]] if self.disabled_field in status else []
        if self.company_field and config.company:
            filters.append([self.company_field, "=", config.company])
        if self.warehouse_field and config.warehouses:
            filters.append([self.warehouse_field, "in", list(config.warehouses)])
        if "docstatus" in status:
            filters.append(["docstatus", "=", 1])
        return filters


STANDARD_DOCTYPES = [
    DocType("item", "Item", child_tables={"reorder_levels": "Item Reorder"}, disabled_field="disabled"),
    DocType("bin", "Bin", warehouse_field="warehouse"),
    DocType("sales_order", "Sales Order", child_tables={"items": "Sales Order Item"}, company_field="company", submittable=True),
    DocType("supplier", "Supplier", disabled_field="disabled"),
    DocType("customer", "Customer", disabled_field="disabled"),
    DocType("purchase_order", "Purchase Order", child_tables={"items": "Purchase Order Item"}, company_field="company", submittable=True),
    DocType("stock_entry", "Stock Entry", child_tables={"items": "Stock Entry Detail"}, company_field="company", submittable=True),
    DocType("warehouse", "Warehouse", disabled_field="disabled", company_field="company", warehouse_field="name"),
]


def with_meta(doctype: DocType, meta: DocTypeMeta, standard: bool) -> DocType:
    """The stream's row completed from its DocType's metadata as the site has it: every child table (a standard row's
    own when the metadata is the bundled fallback), and for a DocType not in the table above, the filters its fields
    allow (`disabled`, `company`, and docstatus when it is submittable)."""
    if not meta.from_site:
        return doctype
    if standard:
        return replace(doctype, child_tables=dict(meta.child_tables))
    return replace(
        doctype,
        child_tables=dict(meta.child_tables),
        disabled_field="disabled" if meta.has_field("disabled") else None,
        company_field="company" if meta.has_field("company") else None,
        submittable=meta.is_submittable,
    )


def stream_name(doctype: str) -> str:
    """'Sales Invoice' -> 'sales_invoice'."""
    return re.sub(r"[^a-z0-9]+", "_", doctype.lower()).strip("_")


def configured_doctypes(config: ErpnextConfig) -> List[DocType]:
    """The standard streams plus one per additional DocType (child tables found from its metadata later)."""
    doctypes = list(STANDARD_DOCTYPES)
    known = {d.doctype for d in doctypes}
    for name in config.additional_doctypes:
        if name not in known:
            doctypes.append(DocType(stream_name(name), name))
            known.add(name)
    return doctypes


@dataclass(frozen=True)
class OpenDocuments:
    """Documents of a DocType that ERPNext may still change without moving their `modified`: the filters select them
    in their state before and after such a change (so the change is read, whenever it happened); `paths` names the
    ERPNext code that makes it (erpnext 15.102 / 16.12)."""

    filters: List[list]
    paths: List[str]


_UNPAID_INVOICES = OpenDocuments(
    [["docstatus", "=", 1], ["outstanding_amount", ">", 0]],
    ["erpnext.controllers.accounts_controller.update_invoice_status (daily job): Unpaid / Partly Paid -> Overdue "
     "(and ... and Discounted) by an UPDATE that leaves modified alone; it only touches submitted invoices with an "
     "outstanding amount above 0, which they still have afterwards",
     "InvoiceDiscounting.set_status (its disbursement or settlement Journal Entry): each Sales Invoice's status "
     "(Unpaid and Discounted, ...) by set_status(update=True, update_modified=False)"],
)

# DocType -> its open documents, for standard streams and additional DocTypes alike (looked up by DocType name).
OPEN_DOCUMENTS: Dict[str, OpenDocuments] = {
    "Sales Invoice": _UNPAID_INVOICES,
    "Purchase Invoice": _UNPAID_INVOICES,
    "Sales Order": OpenDocuments(
        # `status` is what these paths leave alone: per_picked / per_delivered change under it.
        [["docstatus", "=", 1], ["status", "!=", "Completed"]],
        ["SalesOrder.update_picking_status (Pick List submit/cancel): per_picked by db_set(update_modified=False), "
         "items' picked_qty by frappe.db.bulk_update(update_modified=False) (PickList.update_sales_order_item_qty)",
         "SalesOrder.update_delivery_status (drop shipping, run by Update Items on a submitted order): items' "
         "delivered_qty and per_delivered by db_set(update_modified=False)",
         "payment_request.py (loyalty points on a Payment Request): loyalty_points, loyalty_amount by "
         "frappe.db.set_value(update_modified=False)"],
    ),
    "Purchase Order": OpenDocuments(
        [["docstatus", "=", 1], ["status", "!=", "Completed"]],
        ["PurchaseOrder.update_receiving_percentage (Update Items on a submitted order, "
         "accounts_controller.update_child_qty_rate): per_received by db_set(update_modified=False)"],
    ),
}


def open_documents(doctype: str) -> Optional[OpenDocuments]:
    return OPEN_DOCUMENTS.get(doctype)

"""DocType metadata and deterministic ERPNext-shaped data generation (SQLite)."""
import json
import random
from datetime import datetime, timedelta

from . import extra

NUMERIC_INT = ("Int", "Check", "Long Int")
NUMERIC_FLOAT = ("Float", "Currency", "Percent")
NO_VALUE = ("Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold", "Heading")
TABLE_TYPES = ("Table", "Table MultiSelect")
DATETIME_TYPES = ("Datetime",)
STD_FIELDS = [("name", "Data"), ("creation", "Datetime"), ("modified", "Datetime"), ("modified_by", "Link"),
              ("owner", "Link"), ("docstatus", "Int"), ("idx", "Int")]
CHILD_FIELDS = [("parent", "Data"), ("parentfield", "Data"), ("parenttype", "Data")]
OPTIONAL_FIELDS = [("_user_tags", "Data"), ("_comments", "Text"), ("_assign", "Text"), ("_liked_by", "Data")]


def _f(fieldname, fieldtype, label=None, options=None, **kw):
    d = {"fieldname": fieldname, "fieldtype": fieldtype, "label": label or fieldname.replace("_", " ").title()}
    if options:
        d["options"] = options
    d.update(kw)
    return d


SB, CB = "Section Break", "Column Break"
# name -> (module, flags, fields).  flags: istable, is_submittable, sort_field, sort_order
DOCTYPES = {
    "Company": ("Setup", {}, [
        _f("company_name", "Data", "Company", reqd=1, in_list_view=1), _f("abbr", "Data", "Abbr", reqd=1),
        _f("cb0", CB), _f("default_currency", "Link", "Default Currency", "Currency", reqd=1),
        _f("country", "Link", "Country", "Country", reqd=1)]),
    "Warehouse": ("Stock", {}, [
        _f("warehouse_detail", SB, "Warehouse Detail"), _f("warehouse_name", "Data", "Warehouse Name", reqd=1),
        _f("is_group", "Check", "Is Group Warehouse"), _f("parent_warehouse", "Link", "Parent Warehouse", "Warehouse"),
        _f("column_break_3", CB), _f("company", "Link", "Company", "Company", reqd=1, in_list_view=1),
        _f("disabled", "Check", "Disabled"), _f("tree_details", SB, "Tree Details"), _f("lft", "Int", "lft"),
        _f("rgt", "Int", "rgt")]),
    "Item": ("Stock", {}, [
        _f("name_and_description_section", SB), _f("item_code", "Data", "Item Code", reqd=1, unique=1),
        _f("item_name", "Data", "Item Name", in_list_view=1), _f("item_group", "Link", "Item Group", "Item Group", reqd=1),
        _f("stock_uom", "Link", "Default Unit of Measure", "UOM", reqd=1), _f("column_break0", CB),
        _f("disabled", "Check", "Disabled"), _f("is_stock_item", "Check", "Maintain Stock"),
        _f("valuation_rate", "Currency", "Valuation Rate"), _f("section_break_11", SB),
        _f("description", "Text Editor", "Description"), _f("inventory_section", SB, "Inventory"),
        _f("reorder_section", SB, "Auto re-order"),
        _f("reorder_levels", "Table", "Reorder level based on Warehouse", "Item Reorder"),
        _f("variants_section", SB, "Variants"), _f("has_variants", "Check", "Has Variants"),
        _f("variant_of", "Link", "Variant Of", "Item"), _f("end_of_life", "Date", "End of Life")]),
    "Item Reorder": ("Stock", {"istable": 1}, [
        _f("warehouse_group", "Link", "Check in (group)", "Warehouse"),
        _f("warehouse", "Link", "Request for", "Warehouse", reqd=1, in_list_view=1),
        _f("warehouse_reorder_level", "Float", "Re-order Level", in_list_view=1),
        _f("warehouse_reorder_qty", "Float", "Re-order Qty", in_list_view=1),
        _f("material_request_type", "Select", "Material Request Type",
           "Purchase\nTransfer\nMaterial Issue\nManufacture", reqd=1)]),
    "Bin": ("Stock", {}, [
        _f("item_code", "Link", "Item Code", "Item", reqd=1, in_list_view=1),
        _f("warehouse", "Link", "Warehouse", "Warehouse", reqd=1, in_list_view=1), _f("column_break_3", CB),
        _f("actual_qty", "Float", "Actual Quantity"), _f("reserved_qty", "Float", "Reserved Quantity"),
        _f("ordered_qty", "Float", "Ordered Quantity"), _f("projected_qty", "Float", "Projected Qty"),
        _f("section_break_1", SB), _f("stock_uom", "Link", "UOM", "UOM"),
        _f("valuation_rate", "Float", "Valuation Rate"), _f("stock_value", "Float", "Stock Value"),
        _f("section_break_2", SB), _f("indented_qty", "Float", "Requested Quantity"),
        _f("planned_qty", "Float", "Planned Qty"), _f("reserved_qty_for_production", "Float", "Reserved Qty for Production"),
        _f("reserved_qty_for_sub_contract", "Float", "Reserved Qty for Subcontract")]),
    "Customer": ("Selling", {}, [
        _f("customer_name", "Data", "Customer Name", reqd=1), _f("customer_type", "Select", "Customer Type",
                                                                 "Company\nIndividual\nPartnership", reqd=1),
        _f("column_break0", CB), _f("customer_group", "Link", "Customer Group", "Customer Group"),
        _f("territory", "Link", "Territory", "Territory"), _f("disabled", "Check", "Disabled")]),
    "Supplier": ("Buying", {}, [
        _f("supplier_name", "Data", "Supplier Name", reqd=1), _f("country", "Link", "Country", "Country"),
        _f("column_break0", CB), _f("supplier_group", "Link", "Supplier Group", "Supplier Group", reqd=1),
        _f("disabled", "Check", "Disabled"),
        _f("payment_terms", "Link", "Default Payment Terms Template", "Payment Terms Template")]),
    "Sales Order": ("Selling", {"is_submittable": 1}, [
        _f("customer_section", SB), _f("customer", "Link", "Customer", "Customer", reqd=1),
        _f("customer_name", "Data", "Customer Name", read_only=1), _f("column_break_7", CB),
        _f("transaction_date", "Date", "Date", reqd=1), _f("delivery_date", "Date", "Delivery Date"),
        _f("company", "Link", "Company", "Company", reqd=1), _f("currency_and_price_list", SB, "Currency"),
        _f("currency", "Link", "Currency", "Currency", reqd=1), _f("items_section", SB),
        _f("set_warehouse", "Link", "Set Source Warehouse", "Warehouse"),
        _f("items", "Table", "Items", "Sales Order Item", reqd=1), _f("totals", SB),
        _f("grand_total", "Currency", "Grand Total", "currency", read_only=1),
        _f("status", "Select", "Status", "\nDraft\nOn Hold\nTo Deliver and Bill\nTo Bill\nTo Deliver\nCompleted\n"
                                         "Cancelled\nClosed", reqd=1, read_only=1),
        _f("per_delivered", "Percent", "% Delivered", read_only=1), _f("per_billed", "Percent", "% Amount Billed", read_only=1),
        _f("per_picked", "Percent", "% Picked", read_only=1)]),
    "Sales Order Item": ("Selling", {"istable": 1}, [
        _f("item_code", "Link", "Item Code", "Item", in_list_view=1), _f("item_name", "Data", "Item Name"),
        _f("delivery_date", "Date", "Delivery Date"), _f("quantity_and_rate", SB),
        _f("qty", "Float", "Quantity", in_list_view=1), _f("rate", "Currency", "Rate", in_list_view=1),
        _f("amount", "Currency", "Amount", read_only=1), _f("warehouse", "Link", "Delivery Warehouse", "Warehouse")]),
    "Purchase Order": ("Buying", {"is_submittable": 1}, [
        _f("supplier_section", SB), _f("supplier", "Link", "Supplier", "Supplier", reqd=1),
        _f("supplier_name", "Data", "Supplier Name", read_only=1), _f("column_break1", CB),
        _f("transaction_date", "Date", "Date", reqd=1), _f("schedule_date", "Date", "Required By"),
        _f("company", "Link", "Company", "Company", reqd=1), _f("currency", "Link", "Currency", "Currency"),
        _f("items_section", SB), _f("set_warehouse", "Link", "Set Target Warehouse", "Warehouse"),
        _f("items", "Table", "Items", "Purchase Order Item", reqd=1), _f("totals", SB),
        _f("grand_total", "Currency", "Grand Total", "currency", read_only=1),
        _f("status", "Select", "Status", "\nDraft\nOn Hold\nTo Receive and Bill\nTo Bill\nTo Receive\nCompleted\n"
                                         "Cancelled\nClosed\nDelivered", reqd=1, read_only=1),
        _f("per_received", "Percent", "% Received", read_only=1), _f("per_billed", "Percent", "% Billed", read_only=1)]),
    "Purchase Order Item": ("Buying", {"istable": 1}, [
        _f("item_code", "Link", "Item Code", "Item", in_list_view=1), _f("item_name", "Data", "Item Name"),
        _f("schedule_date", "Date", "Required By"), _f("quantity_and_rate", SB),
        _f("qty", "Float", "Quantity", in_list_view=1), _f("rate", "Currency", "Rate"),
        _f("amount", "Currency", "Amount"), _f("warehouse", "Link", "Warehouse", "Warehouse")]),
    "Stock Entry": ("Stock", {"is_submittable": 1}, [
        _f("stock_entry_details_tab", "Tab Break", "Details"),
        _f("stock_entry_type", "Link", "Stock Entry Type", "Stock Entry Type", reqd=1),
        _f("purpose", "Select", "Purpose", "Material Issue\nMaterial Receipt\nMaterial Transfer\nManufacture\n"
                                           "Repack", read_only=1), _f("company", "Link", "Company", "Company", reqd=1),
        _f("col2", CB), _f("posting_date", "Date", "Posting Date"), _f("posting_time", "Time", "Posting Time"),
        _f("items_section", SB, "Items"), _f("from_warehouse", "Link", "Default Source Warehouse", "Warehouse"),
        _f("to_warehouse", "Link", "Default Target Warehouse", "Warehouse"),
        _f("items", "Table", "Items", "Stock Entry Detail", reqd=1),
        _f("total_outgoing_value", "Currency", "Total Outgoing Value", read_only=1)]),
    "Stock Entry Detail": ("Stock", {"istable": 1}, [
        _f("s_warehouse", "Link", "Source Warehouse", "Warehouse", in_list_view=1),
        _f("t_warehouse", "Link", "Target Warehouse", "Warehouse", in_list_view=1), _f("sec_break1", SB),
        _f("item_code", "Link", "Item Code", "Item", reqd=1, in_list_view=1), _f("qty", "Float", "Qty", reqd=1),
        _f("basic_rate", "Currency", "Basic Rate (as per Stock UOM)"),
        _f("basic_amount", "Currency", "Basic Amount", read_only=1)]),
    "Sales Invoice": ("Accounts", {"is_submittable": 1}, [
        _f("customer", "Link", "Customer", "Customer"), _f("company", "Link", "Company", "Company", reqd=1),
        _f("posting_date", "Date", "Date", reqd=1), _f("due_date", "Date", "Payment Due Date"),
        _f("is_pos", "Check", "Include Payment (POS)"), _f("currency", "Link", "Currency", "Currency", reqd=1),
        _f("grand_total", "Currency", "Grand Total", read_only=1),
        _f("outstanding_amount", "Currency", "Outstanding Amount", read_only=1),
        _f("status", "Select", "Status", "\nDraft\nReturn\nCredit Note Issued\nSubmitted\nPaid\nPartly Paid\n"
           "Unpaid\nUnpaid and Discounted\nPartly Paid and Discounted\nOverdue and Discounted\nOverdue\n"
           "Cancelled\nInternal Transfer", read_only=1)]),
    "Purchase Invoice": ("Accounts", {"is_submittable": 1}, [
        _f("supplier", "Link", "Supplier", "Supplier"), _f("company", "Link", "Company", "Company", reqd=1),
        _f("posting_date", "Date", "Posting Date", reqd=1), _f("due_date", "Date", "Due Date"),
        _f("currency", "Link", "Currency", "Currency"), _f("grand_total", "Currency", "Grand Total", read_only=1),
        _f("outstanding_amount", "Currency", "Outstanding Amount", read_only=1),
        _f("status", "Select", "Status", "\nDraft\nReturn\nDebit Note Issued\nSubmitted\nPaid\nPartly Paid\n"
           "Unpaid\nOverdue\nCancelled\nInternal Transfer", read_only=1)]),
    "Deleted Document": ("Core", {}, [
        _f("deleted_name", "Data", "Deleted Name"), _f("deleted_doctype", "Data", "Deleted DocType"),
        _f("restored", "Check", "Restored"), _f("new_name", "Read Only", "New Name"),
        _f("data", "Code", "Data")]),
    "Custom Field": ("Custom", {}, [
        _f("dt", "Link", "DocType", "DocType", reqd=1), _f("module", "Link", "Module (for export)", "Module Def"),
        _f("label", "Data", "Label"), _f("fieldname", "Data", "Fieldname"),
        _f("insert_after", "Select", "Insert After"), _f("fieldtype", "Select", "Field Type"),
        _f("options", "Small Text", "Options"), _f("reqd", "Check", "Mandatory")]),
    "DocType": ("Core", {}, [
        _f("module", "Link", "Module", "Module Def", reqd=1), _f("istable", "Check", "Is Child Table"),
        _f("issingle", "Check", "Is Single"), _f("is_submittable", "Check", "Is Submittable"),
        _f("custom", "Check", "Custom?"), _f("sort_field", "Data", "Default Sort Field"),
        _f("sort_order", "Select", "Default Sort Order", "ASC\nDESC"), _f("is_virtual", "Check", "Is Virtual")]),
}
# The rest of ERPNext's child tables of these DocTypes, and DocTypes that are no stream's own (see extra.py).
for _parent, _tables in {**extra.MORE_TABLES, **extra.MORE_ROWS}.items():
    DOCTYPES[_parent][2].extend(_f(fieldname, "Table", options=child) for fieldname, child, _ in _tables)
DOCTYPES.update({name: (module, {"istable": 1}, fields) for name, (module, fields) in extra.CHILD_DOCTYPES.items()})
DOCTYPES.update(extra.MORE_DOCTYPES)
UNREADABLE = set(extra.UNREADABLE)  # DocTypes the API user may not read
BASE_DOCTYPES = list(DOCTYPES)  # what every server serves (synthetic DocTypes come on request)
CUSTOM_FIELDS = {"Item": [_f("custom_shelf_life_days", "Int", "Shelf Life (Days)", insert_after="description",
                             is_custom_field=1)]}
DATA_DOCTYPES = ["Company", "Warehouse", "Item", "Bin", "Customer", "Supplier", "Sales Order",
                 "Purchase Order", "Stock Entry", "Sales Invoice", "Purchase Invoice"]
DOCTYPES_WITHOUT_DATA = {"Deleted Document", "Custom Field", "DocType"}  # filled by generate() itself
MUTABLE_DOCTYPES = ["Item", "Bin", "Customer", "Supplier", "Sales Order", "Purchase Order", "Stock Entry"]


def is_table(dt):
    return bool(DOCTYPES[dt][1].get("istable"))


def meta_fields(dt, custom=True):
    """Merged meta fields (standard DocFields + custom fields inserted after insert_after)."""
    fields = [dict(f) for f in DOCTYPES[dt][2]]
    for cf in CUSTOM_FIELDS.get(dt, []) if custom else []:
        pos = next((i + 1 for i, f in enumerate(fields) if f["fieldname"] == cf.get("insert_after")), len(fields))
        fields.insert(pos, dict(cf))
    return fields


def columns(dt):
    """Ordered {column: fieldtype} as the DB table has them."""
    cols = dict(STD_FIELDS)
    if is_table(dt):
        cols.update(CHILD_FIELDS)
    for f in meta_fields(dt):
        if f["fieldtype"] not in NO_VALUE + TABLE_TYPES:
            cols[f["fieldname"]] = f["fieldtype"]
    if not is_table(dt):
        cols.update(OPTIONAL_FIELDS)
    return cols


def child_tables(dt):
    """[(fieldname, child doctype)]"""
    return [(f["fieldname"], f["options"]) for f in meta_fields(dt) if f["fieldtype"] in TABLE_TYPES]


def parent_of(child):
    return [(dt, fn) for dt in DOCTYPES for fn, c in child_tables(dt) if c == child]


def sql_type(ft):
    if ft in NUMERIC_INT:
        return "INTEGER NOT NULL DEFAULT 0"
    if ft in NUMERIC_FLOAT:
        return "REAL NOT NULL DEFAULT 0"
    if ft in DATETIME_TYPES + ("Date", "Time"):
        return "TEXT"
    return "TEXT COLLATE NOCASE"


def add_synthetic_doctypes(count):
    """Registers `count` synthetic DocTypes (extra.synthetic_doctypes); returns their names (children included) and
    those the API user may not read. A server serves them only if it asked for them (ErpnextTestServer.served)."""
    doctypes, unreadable = extra.synthetic_doctypes(count)
    DOCTYPES.update(doctypes)
    return list(doctypes), unreadable


def create_schema(conn, doctypes):
    for dt in doctypes:
        cols = columns(dt)
        defs = ", ".join(f'"{c}" {sql_type(t)}' + (" PRIMARY KEY" if c == "name" else "") for c, t in cols.items())
        conn.execute(f'CREATE TABLE "{dt}" ({defs})')


def create_indexes(conn, doctypes):
    for dt in doctypes:
        key = dt.replace(" ", "_").lower()
        conn.execute(f'CREATE INDEX "ix_{key}_mod" ON "{dt}" (modified, name)')
        conn.execute(f'CREATE INDEX "ix_{key}_cre" ON "{dt}" (creation)')
        if is_table(dt):
            conn.execute(f'CREATE INDEX "ix_{key}_parent" ON "{dt}" (parent)')
    conn.execute('CREATE INDEX ix_bin_item ON "Bin" (item_code)')


def fmt_dt(d):
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


class HashNames:
    """Unique, random-looking 10-hex-char names like frappe.generate_hash(length=10)."""

    def __init__(self, seed):
        self.n = seed * 7919 + 1

    def __call__(self):
        self.n += 1
        return "%010x" % ((self.n * 0x9E3779B97F) % (1 << 40))


WORDS_A = ["Steel", "Brass", "Copper", "Plastic", "Rubber", "Oak", "Glass", "Carbon", "Nylon", "Alloy", "Ceramic"]
WORDS_B = ["Bolt", "Washer", "Bracket", "Panel", "Valve", "Hinge", "Gear", "Spring", "Clamp", "Pipe", "Sensor",
           "Motor", "Cable"]
ITEM_GROUPS = ["Raw Material", "Sub Assemblies", "Consumable", "Products", "Services"]
UOMS = ["Nos", "Kg", "Box", "Meter", "Litre"]
OWNERS = ["Administrator", "stock.manager@example.com", "sales.user@example.com", "purchase.user@example.com"]
COMPANIES = [("Test Company", "TC", "USD", "United States"), ("Other Company", "OC", "EUR", "Germany")]
WH_NAMES = ["Stores", "Finished Goods", "Work In Progress"]
BULK_IMPORT = datetime(2024, 3, 15, 9, 30, 12, 345678)
YEAR_START = datetime(2024, 1, 1, 8, 0, 0)
DEFAULT_END_OF_LIFE = "2099-12-31"  # Item.end_of_life's default in ERPNext
PAYMENT_TERMS = ["Net 30", "Net 60", "Due on Receipt", None]

# Warehouses and items that hold every case ERPNext's reorder job (erpnext/stock/reorder_item.py) decides on,
# whatever the server's size: (name, warehouse_name, is_group, parent, disabled) for Test Company.
REORDER_WAREHOUSES = [
    ("Regional Stores - TC", "Regional Stores", 1, "All Warehouses - TC", 0),
    ("North Store - TC", "North Store", 0, "Regional Stores - TC", 0),
    ("South Store - TC", "South Store", 0, "Regional Stores - TC", 0),
    ("Old Depot - TC", "Old Depot", 0, "All Warehouses - TC", 1),
]
# code -> (item_name, {item fields}, rules, bins).
#   rule: (warehouse, reorder level, reorder qty, material request type, warehouse_group)
#   bin: (warehouse, actual, reserved, ordered, indented, planned, reserved for production, reserved for subcontract)
# The comment says what ERPNext's job does with it.
REORDER_CASES = {
    "ITEM-R01": ("Reorder: no Bin", {}, [("Stores - TC", 20, 40, "Purchase", None)], []),  # projected 0: 40
    "ITEM-R02": ("Reorder: reserved stock", {}, [("Stores - TC", 30, 10, "Purchase", None)],
                 [("Stores - TC", 50, 30, 0, 0, 0, 10, 5)]),  # on hand 50, projected 5: 25
    "ITEM-R03": ("Reorder: ordered stock", {}, [("Stores - TC", 30, 10, "Purchase", None)],
                 [("Stores - TC", 5, 0, 60, 20, 20, 0, 0)]),  # on hand 5, projected 105: not due
    "ITEM-R04": ("Reorder: at the level", {}, [("Stores - TC", 30, 15, "Transfer", None)],
                 [("Stores - TC", 30, 0, 0, 0, 0, 0, 0)]),  # projected == level: due (<=), 15
    "ITEM-R05": ("Reorder: level 0", {}, [("Finished Goods - TC", 0, 25, "Material Issue", None),  # no Bin: 25
                                          ("Stores - TC", 0, 25, "Purchase", None),  # projected 10: not due
                                          ("North Store - TC", 0, 5, "Purchase", None)],  # projected -30: 30
                 [("Stores - TC", 10, 0, 0, 0, 0, 0, 0), ("North Store - TC", 0, 30, 0, 0, 0, 0, 0)]),
    "ITEM-R06": ("Reorder: level and qty 0", {}, [("Stores - TC", 0, 0, "Purchase", None)], []),  # never
    "ITEM-R07": ("Reorder: disabled warehouse", {}, [("Old Depot - TC", 50, 50, "Purchase", None),  # skipped
                                                     ("Stores - TC", 10, 10, "Purchase", None)],  # no Bin: 10
                 [("Old Depot - TC", 0, 0, 0, 0, 0, 0, 0)]),
    "ITEM-R08": ("Reorder: group below", {}, [("North Store - TC", 100, 20, "Transfer", "Regional Stores - TC")],
                 [("North Store - TC", 30, 0, 0, 0, 0, 0, 0), ("South Store - TC", 40, 0, 0, 0, 0, 0, 0)]),  # 70: 30
    "ITEM-R09": ("Reorder: group above", {}, [("South Store - TC", 50, 10, "Transfer", "Regional Stores - TC")],
                 [("North Store - TC", 10, 0, 0, 0, 0, 0, 0), ("South Store - TC", 45, 0, 0, 0, 0, 0, 0)]),  # 55
    "ITEM-R10": ("Reorder: disabled item", {"disabled": 1}, [("Stores - TC", 50, 10, "Purchase", None)], []),
    "ITEM-R11": ("Reorder: not a stock item", {"is_stock_item": 0}, [("Stores - TC", 50, 10, "Purchase", None)], []),
    "ITEM-R12": ("Reorder: template", {"has_variants": 1}, [("Stores - TC", 40, 10, "Purchase", None)], []),
    "ITEM-R12-S": ("Reorder: variant with its own rule", {"variant_of": "ITEM-R12"},
                   [("Finished Goods - TC", 15, 5, "Purchase", None)],
                   [("Finished Goods - TC", 3, 0, 0, 0, 0, 0, 0)]),  # projected 3: 12
    # ERPNext's job gives a variant without rules its template's, but those rows carry the template's
    # has_variants = 1 and are skipped (`if d.has_variants: continue`): no request.
    "ITEM-R12-M": ("Reorder: variant without rules", {"variant_of": "ITEM-R12"}, [], []),
    "ITEM-R13": ("Reorder: past end of life", {"end_of_life": "2020-06-30"}, [("Stores - TC", 50, 10, "Purchase", None)],
                 []),
    "ITEM-R14": ("Reorder: no end of life", {"end_of_life": None}, [("Stores - TC", 12, 6, "Manufacture", None)],
                 []),  # no Bin: 12
}


def generate(conn, items, seed, doctypes):
    """Fill all tables; return the latest modified datetime used."""
    rng = random.Random(seed)
    hashname = HashNames(seed)
    span = 330 * 86400

    def ts(lo=0.0):
        # random moment in 2024 with microseconds, after `lo` seconds since YEAR_START
        s = lo + rng.random() * (span - lo)
        return YEAR_START + timedelta(seconds=int(s), microseconds=rng.randrange(1, 1000000))

    def std(name, idx=0, docstatus=0, created=None, modified=None):
        c = created or ts(0)
        m = modified or (c + timedelta(seconds=rng.randrange(0, 30 * 86400), microseconds=rng.randrange(1000000)))
        return [name, fmt_dt(c), fmt_dt(m), rng.choice(OWNERS), rng.choice(OWNERS), docstatus, idx]

    def insert(dt, rows):
        if rows:
            ph = ",".join("?" * len(rows[0]))
            conn.executemany(f'INSERT INTO "{dt}" VALUES ({ph})', rows)

    opt = [None] * 4
    # Companies / warehouses
    insert("Company", [std(n, created=YEAR_START - timedelta(days=400), modified=YEAR_START - timedelta(days=399))
                       + [n, a, cur, ctry] + opt for n, a, cur, ctry in COMPANIES])
    whs, wh_by_company = [], {}
    for cname, abbr, _, _ in COMPANIES:
        root = f"All Warehouses - {abbr}"
        whs.append(std(root, created=YEAR_START - timedelta(days=399)) + ["All Warehouses", 1, None, cname, 0, 0, 0]
                   + opt)
        for w in WH_NAMES:
            wn = f"{w} - {abbr}"
            wh_by_company.setdefault(abbr, []).append(wn)
            whs.append(std(wn, created=YEAR_START - timedelta(days=398)) + [w, 0, root, cname, 0, 0, 0] + opt)
    insert("Warehouse", whs)
    all_wh = [w for ws in wh_by_company.values() for w in ws]

    # Items + reorder levels + bins
    item_rows, reorder_rows, bin_rows = [], [], []
    item_info = []
    for i in range(1, items + 1):
        code = "ITEM-%06d" % i
        bulk = rng.random() < 0.3
        created = BULK_IMPORT if bulk else ts()
        modified = BULK_IMPORT if bulk and rng.random() < 0.9 else None
        name = f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)} {i}"
        uom = rng.choice(UOMS)
        rate = round(rng.uniform(0.5, 500), 2)
        is_stock = 0 if rng.random() < 0.05 else 1
        item_rows.append(std(code, created=created, modified=modified) + [
            code, name, rng.choice(ITEM_GROUPS), uom, 1 if rng.random() < 0.1 else 0, is_stock, rate,
            f"{name} ({uom})", rng.choice([0, 90, 180, 365, 730]), 0, None, DEFAULT_END_OF_LIFE] + opt)
        abbr = "TC" if rng.random() < 0.8 else "OC"
        bin_whs = rng.sample(wh_by_company[abbr], 2)
        levels = {}
        if rng.random() < 0.5:
            for k, w in enumerate(bin_whs[: rng.randint(1, 2)]):
                level = float(rng.choice([10, 20, 50, 100]))
                levels[w] = level
                reorder_rows.append(std(hashname(), k + 1, created=created, modified=created) + [
                    code, "reorder_levels", "Item", None, w, level, level * 2, rng.choice(["Purchase", "Transfer"])])
        for w in bin_whs:
            level = levels.get(w)
            if level is not None and rng.random() < 0.3:
                actual = float(rng.randint(0, int(level) - 1))  # needs reordering
            else:
                actual = float(rng.randint(0, 500))
            reserved, ordered = float(rng.randint(0, 20)), float(rng.randint(0, 50))
            bmod = BULK_IMPORT if bulk and rng.random() < 0.8 else None
            bin_rows.append(std(hashname(), created=created, modified=bmod) + [
                code, w, actual, reserved, ordered, actual - reserved + ordered, uom, rate, round(actual * rate, 2),
                0.0, 0.0, 0.0, 0.0] + opt)
        item_info.append((code, name, rate))
    insert("Item", item_rows)
    insert("Item Reorder", reorder_rows)
    insert("Bin", bin_rows)
    del item_rows, bin_rows, reorder_rows

    # Parties
    n_cust, n_supp = max(3, items // 10), max(2, items // 20)
    customers = ["CUST-%05d" % i for i in range(1, n_cust + 1)]
    insert("Customer", [std(c) + [f"Customer {c[5:]}", rng.choice(["Company", "Individual"]), rng.choice(
        ["Commercial", "Retail", "Government"]), rng.choice(["United States", "Germany", "India"]),
        1 if rng.random() < 0.1 else 0] + opt for i, c in enumerate(customers, 1)])
    suppliers = ["SUP-%05d" % i for i in range(1, n_supp + 1)]
    # payment_terms from a second generator: the main one draws what it drew before the field existed.
    terms = random.Random(seed * 31 + 5)
    insert("Supplier", [std(s) + [f"Supplier {s[4:]}", rng.choice(["United States", "Germany", "China"]),
                                  rng.choice(["Raw Material", "Hardware", "Services"]), 1 if rng.random() < 0.1 else 0,
                                  terms.choice(PAYMENT_TERMS)]
                        + opt for i, s in enumerate(suppliers, 1)])

    def transactions(dt, child_dt, prefix, count, party_list, status_submitted):
        parents, children = [], []
        batch_mod = None
        for i in range(1, count + 1):
            name = "%s-2024-%05d" % (prefix, i)
            ds = rng.choices([0, 1, 2], [3, 6, 1])[0]
            created = ts()
            if rng.random() < 0.05:  # batch submissions share one modified value
                batch_mod = batch_mod if batch_mod and rng.random() < 0.9 else created
                modified = batch_mod
            else:
                modified = None
            row = std(name, docstatus=ds, created=created, modified=modified)
            abbr = "TC" if rng.random() < 0.8 else "OC"
            wh = rng.choice(wh_by_company[abbr])
            tdate = created.date()
            ddate = tdate + timedelta(days=rng.randint(1, 30))
            total = 0.0
            for k in range(1, rng.randint(1, 5) + 1):
                code, iname, rate = rng.choice(item_info)
                qty = float(rng.randint(1, 20))
                amount = round(qty * rate, 2)
                total += amount
                crow = [hashname(), row[1], row[2], row[3], row[4], ds, k, name, "items", dt]
                if child_dt == "Stock Entry Detail":
                    s, t = rng.sample(all_wh, 2)
                    crow += [s, t, code, qty, rate, amount]
                else:
                    crow += [code, iname, str(ddate), qty, rate, amount, wh]
                children.append(crow)
            status = {0: "Draft", 2: "Cancelled"}.get(ds) or rng.choice(status_submitted)
            party = rng.choice(party_list)
            comp = "Test Company" if abbr == "TC" else "Other Company"
            cur = "USD" if abbr == "TC" else "EUR"
            if dt == "Stock Entry":
                purpose = rng.choice(["Material Issue", "Material Receipt", "Material Transfer"])
                t = created.time()
                row += [purpose, purpose, comp, str(tdate), "%d:%02d:%02d" % (t.hour, t.minute, t.second),
                        wh, rng.choice(all_wh), round(total, 2)]
            else:
                row += [party, party.replace("CUST-", "Customer ").replace("SUP-", "Supplier "), str(tdate),
                        str(ddate), comp, cur, wh, round(total, 2), status]
                # Percentages that agree with the status (no draws: the generator draws what it drew before them).
                done = 100.0 if status == "Completed" else 0.0
                delivered = 100.0 if status in ("To Bill", "Completed") else 0.0
                billed = 100.0 if status in ("To Deliver", "To Receive", "Completed") else 0.0
                row += [delivered, billed, done] if dt == "Sales Order" else [delivered, billed]
            parents.append(row + opt)
        insert(dt, parents)
        insert(child_dt, children)

    transactions("Sales Order", "Sales Order Item", "SAL-ORD", max(2, items // 2), customers,
                 ["To Deliver and Bill", "To Bill", "To Deliver", "Completed", "Closed"])
    transactions("Purchase Order", "Purchase Order Item", "PUR-ORD", max(2, items // 5), suppliers,
                 ["To Receive and Bill", "To Bill", "To Receive", "Completed"])
    transactions("Stock Entry", "Stock Entry Detail", "MAT-STE", max(2, items // 5), [None], [None])

    invoices(insert, seed, customers, suppliers)

    # A few pre-existing Deleted Documents
    for i in range(1, 4):
        code = "ITEM-D%05d" % i
        c = ts()
        doc = {"doctype": "Item", "name": code, "item_code": code, "item_name": f"Discontinued {i}",
               "creation": str(c), "modified": str(c), "docstatus": 0, "reorder_levels": []}
        dm = c + timedelta(days=3)
        insert("Deleted Document", [std(hashname(), created=dm, modified=dm) + [
            code, "Item", 0, None, json.dumps(doc, indent=1, sort_keys=True)] + opt])

    reorder_cases(insert, seed)
    set_warehouse_tree(conn)
    more_names = HashNames(seed)
    more_names.n += 9 * 10 ** 11
    extra.generate_rows(conn, columns, more_names, seed, {p: t for p, t in extra.MORE_TABLES.items()}, DOCTYPES)
    others = {dt: DOCTYPES[dt] for dt in doctypes if dt not in DATA_DOCTYPES and dt not in DOCTYPES_WITHOUT_DATA}
    extra.generate_documents(conn, columns, seed, others)
    extra.generate_rows(conn, columns, more_names, seed, extra.MORE_ROWS, DOCTYPES)

    # Metadata tables: DocType and Custom Field
    meta_ts = YEAR_START - timedelta(days=500)
    insert("DocType", [std(dt, created=meta_ts, modified=meta_ts) + [
        mod, flags.get("istable", 0), flags.get("issingle", 0), flags.get("is_submittable", 0), 0, "modified", "DESC",
        flags.get("is_virtual", 0)] + opt for dt, (mod, flags, _) in ((dt, DOCTYPES[dt]) for dt in doctypes)])
    insert("Custom Field", [std(f"{dt}-{cf['fieldname']}", created=meta_ts, modified=meta_ts) + [
        dt, "Stock", cf["label"], cf["fieldname"], cf.get("insert_after"), cf["fieldtype"], cf.get("options"),
        cf.get("reqd", 0)] + opt for dt, cfs in CUSTOM_FIELDS.items() for cf in cfs])
    return conn.execute("SELECT max(modified) FROM \"Item\"").fetchone()[0]


INVOICE_STATUSES = ["Unpaid", "Partly Paid", "Paid", "Overdue", "Unpaid and Discounted"]


def invoices(insert, seed, customers, suppliers, count=40):
    """Sales and Purchase Invoices with due dates around 2024, some unpaid (their own generator: the main one's draws
    stay as they were)."""
    rng = random.Random(seed * 17 + 3)
    for dt, prefix, parties in (("Sales Invoice", "ACC-SINV-2024-", customers), ("Purchase Invoice", "ACC-PINV-2024-", suppliers)):
        rows = []
        for i in range(1, count + 1):
            created = YEAR_START + timedelta(days=rng.randrange(300), seconds=rng.randrange(86400), microseconds=rng.randrange(1, 10**6))
            ds = rng.choices([0, 1, 2], [1, 8, 1])[0]
            status = {0: "Draft", 2: "Cancelled"}.get(ds) or rng.choice(INVOICE_STATUSES)
            if dt == "Purchase Invoice" and status.endswith("Discounted"):
                status = "Unpaid"
            total = round(rng.uniform(10, 5000), 2)
            outstanding = 0.0 if status == "Paid" or ds != 1 else (total if status.startswith(("Unpaid", "Overdue")) else round(total / 2, 2))
            posting = created.date()
            due = posting + timedelta(days=rng.choice([0, 15, 30, 60]))
            row = [f"{prefix}{i:05d}", fmt_dt(created), fmt_dt(created + timedelta(minutes=rng.randrange(60))),
                   rng.choice(OWNERS), rng.choice(OWNERS), ds, 0, rng.choice(parties), "Test Company", str(posting), str(due)]
            row += [0] if dt == "Sales Invoice" else []
            rows.append(row + ["USD", total, outstanding, status] + [None] * 4)
        insert(dt, rows)


def reorder_cases(insert, seed):
    """The warehouses and items of REORDER_CASES, from their own random generator and names (the seeded data
    drawn before them is what it was before they existed)."""
    rng = random.Random(seed * 131 + 17)
    hashname = HashNames(seed)
    hashname.n += 5 * 10 ** 11

    def std(name, created, idx=0):
        return [name, fmt_dt(created), fmt_dt(created), rng.choice(OWNERS), rng.choice(OWNERS), 0, idx]

    whs_created = YEAR_START - timedelta(days=300)
    insert("Warehouse", [std(n, whs_created) + [wn, grp, parent, "Test Company", dis, 0, 0] + [None] * 4
                         for n, wn, grp, parent, dis in REORDER_WAREHOUSES])
    items, rules, bins = [], [], []
    for k, (code, (name, fields, item_rules, item_bins)) in enumerate(REORDER_CASES.items()):
        created = YEAR_START + timedelta(days=100 + k, seconds=rng.randrange(86400), microseconds=rng.randrange(1, 10 ** 6))
        f = {"disabled": 0, "is_stock_item": 1, "has_variants": 0, "variant_of": None, "end_of_life": DEFAULT_END_OF_LIFE,
             **fields}
        rate = round(rng.uniform(1, 100), 2)
        items.append(std(code, created) + [code, name, "Raw Material", "Nos", f["disabled"], f["is_stock_item"], rate,
                                           name, 0, f["has_variants"], f["variant_of"], f["end_of_life"]] + [None] * 4)
        for idx, (wh, level, qty, mr_type, group) in enumerate(item_rules, 1):
            rules.append(std(hashname(), created, idx) + [code, "reorder_levels", "Item", group, wh, float(level),
                                                          float(qty), mr_type])
        for wh, actual, reserved, ordered, indented, planned, for_production, for_subcontract in item_bins:
            projected = actual + ordered + indented + planned - reserved - for_production - for_subcontract
            bins.append(std(hashname(), created) + [code, wh, float(actual), float(reserved), float(ordered),
                                                    float(projected), "Nos", rate, round(actual * rate, 2),
                                                    float(indented), float(planned), float(for_production),
                                                    float(for_subcontract)] + [None] * 4)
    insert("Item", items)
    insert("Item Reorder", rules)
    insert("Bin", bins)


def set_warehouse_tree(conn):
    """lft/rgt of every warehouse, as Frappe's NestedSet numbers its tree (children in name order)."""
    rows = conn.execute('SELECT name, parent_warehouse FROM "Warehouse" ORDER BY name').fetchall()
    children = {}
    for name, parent in rows:
        children.setdefault(parent or None, []).append(name)
    counter = [0]
    numbers = {}

    def visit(name):
        counter[0] += 1
        lft = counter[0]
        for child in children.get(name, []):
            visit(child)
        counter[0] += 1
        numbers[name] = (lft, counter[0])

    for root in children.get(None, []):
        visit(root)
    conn.executemany('UPDATE "Warehouse" SET lft = ?, rgt = ? WHERE name = ?',
                     [(lft, rgt, name) for name, (lft, rgt) in numbers.items()])

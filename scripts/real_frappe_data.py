"""ERPNext-shaped data on a real Frappe site, made in-process through Frappe's document API.

Run with the site's Python from its bench's sites/ directory (scripts/real-frappe does):

    REAL_FRAPPE_SITE=v15.localhost REAL_FRAPPE_OUT=../data.json python real_frappe_data.py make
    REAL_FRAPPE_SITE=v15.localhost python real_frappe_data.py exec < snippet.py   # runs a snippet in the site, prints
                                                                                # json of its `result`, commits

`make` creates ERPNext's DocTypes from ERPNext's own definitions (../shared/erpnext-doctypes/, or
ERPNEXT_DOCTYPES): same fieldnames, fieldtypes, child tables, submittable flags, permissions; custom DocTypes of module
"Custom". What Frappe alone cannot hold is adapted: Links to DocTypes that don't exist become Data, Tables of child
DocTypes that don't exist are dropped, `amended_from` is left to Frappe, keys this Frappe doesn't know are dropped,
fetch_from is dropped where its source is no longer a Link. Customer, Supplier and Warehouse are named by their name
field (ERPNext's default naming for customers and suppliers; its warehouses are "<name> - <company abbr>").

Then users, a custom field, and documents (insert, submit, cancel, amend, delete: Deleted Document rows are Frappe's
own), and `creation`/`modified` spread over months by SQL (child rows take their parent's), with one large group of
rows sharing one `modified`. Deterministic (seeded).
"""

import json
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import frappe

HERE = Path(__file__).resolve().parent
DOCTYPES_DIR = Path(os.environ.get("ERPNEXT_DOCTYPES") or HERE.parent.parent / "shared" / "erpnext-doctypes")
FILES = {
    "Item Reorder": "item_reorder.json",
    "Sales Order Item": "sales_order_item.json",
    "Purchase Order Item": "purchase_order_item.json",
    "Stock Entry Detail": "stock_entry_detail.json",
    "Warehouse": "warehouse.json",
    "Item": "item.json",
    "Bin": "bin.json",
    "Supplier": "supplier.json",
    "Customer": "customer.json",
    "Sales Order": "sales_order.json",
    "Purchase Order": "purchase_order.json",
    "Stock Entry": "stock_entry.json",
}
AUTONAME = {"Customer": "field:customer_name", "Supplier": "field:supplier_name", "Warehouse": "field:warehouse_name"}
COMPANIES = {"Acme Corp": "AC", "Zeta GmbH & Co. KG": "ZG"}
API_USER = "api-reader@example.com"
RESTRICTED_USER = "restricted-reader@example.com"
NO_DELETIONS_USER = "no-deletions-reader@example.com"
# Reads every stream's DocType but neither Bin nor Deleted Document (ERPNext's own permissions).
RESTRICTED_ROLES = ["Accounts User", "Manufacturing User", "Purchase Manager"]
# The large group: rows sharing one identical `modified` (more than a page of 500 items, and rows of other DocTypes).
SHARED_MODIFIED = "2025-06-15 12:00:00.000000"
SPREAD_FROM = datetime(2025, 1, 2, 8, 0, 0)
SPREAD_TO = datetime(2026, 10, 31, 18, 0, 0)

T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[data {time.monotonic() - T0:6.1f} s] {message}", flush=True)


def connect() -> None:
    frappe.init(site=os.environ["REAL_FRAPPE_SITE"], sites_path=".")
    frappe.connect()
    frappe.set_user("Administrator")
    frappe.flags.mute_emails = True


# -- DocTypes from ERPNext's definitions ------------------------------------------------------------------------------


def valid_columns(doctype: str) -> set:
    meta = frappe.get_meta(doctype)
    return set(meta.get_valid_columns()) | {df.fieldname for df in meta.fields}


def adapt_doctype(name: str, existing: set) -> dict:
    """ERPNext's definition of `name`, as this Frappe can hold it; Links to DocTypes not in `existing` become Data."""
    source = json.loads((DOCTYPES_DIR / FILES[name]).read_text())
    dt_keys = valid_columns("DocType") - {"creation", "modified", "modified_by", "owner", "idx", "docstatus", "field_order"}
    df_keys = valid_columns("DocField") - {"creation", "modified", "modified_by", "owner", "name", "parent", "parenttype", "parentfield", "docstatus"}
    perm_keys = valid_columns("DocPerm") - {"creation", "modified", "modified_by", "owner", "name", "parent", "parenttype", "parentfield", "docstatus"}
    doc = {k: v for k, v in source.items() if k in dt_keys and not isinstance(v, list)}
    doc.update({"doctype": "DocType", "name": name, "module": "Custom", "custom": 1, "track_changes": 0})
    if name in AUTONAME:
        doc["autoname"] = AUTONAME[name]
        if "naming_rule" in dt_keys:
            doc["naming_rule"] = "By fieldname"
    if source.get("field_order"):  # compact format: fields in field_order's order
        by_name = {f["fieldname"]: f for f in source["fields"]}
        source_fields = [by_name[n] for n in source["field_order"]]
    else:
        source_fields = sorted(source["fields"], key=lambda f: f.get("idx") or 0)
    fields = []
    for f in source_fields:
        if f["fieldname"] == "amended_from":
            continue  # Frappe adds it to a submittable DocType itself
        f = {k: v for k, v in f.items() if k in df_keys and v is not None}
        if f["fieldtype"] in ("Table", "Table MultiSelect") and f.get("options") not in existing:
            continue
        if f["fieldtype"] == "Link" and f.get("options") not in existing:
            f["fieldtype"] = "Data"
            f.pop("options", None)
        fields.append(f)
    links = {f["fieldname"] for f in fields if f["fieldtype"] == "Link"}
    link_to_doctype = {f["fieldname"] for f in fields if f["fieldtype"] == "Link" and f.get("options") == "DocType"}
    for f in fields:
        if f.get("fetch_from") and f["fetch_from"].split(".")[0] not in links:
            f.pop("fetch_from")
            f.pop("fetch_if_empty", None)
        if f["fieldtype"] == "Dynamic Link" and f.get("options") not in link_to_doctype:
            f["fieldtype"] = "Data"
            f.pop("options", None)
        if f["fieldtype"] == "Select" and f.get("default") and f["default"] not in (f.get("options") or "").split("\n"):
            f.pop("default")
    names = {f["fieldname"] for f in fields}
    for key in ("title_field", "image_field", "timeline_field", "sender_field", "subject_field"):
        if doc.get(key) and doc[key] not in names:
            doc.pop(key)
    if doc.get("search_fields"):
        doc["search_fields"] = ",".join(s.strip() for s in doc["search_fields"].split(",") if s.strip() in names)
    doc["fields"] = fields
    doc["permissions"] = [{k: v for k, v in p.items() if k in perm_keys and v is not None} for p in source.get("permissions", [])]
    return doc


def ensure_role(role: str) -> None:
    if not frappe.db.exists("Role", role):
        frappe.get_doc({"doctype": "Role", "role_name": role, "desk_access": 1}).insert(ignore_permissions=True)


def make_doctypes() -> None:
    ours = set(FILES)
    existing = set(frappe.get_all("DocType", pluck="name"))
    for name in FILES:
        for perm in json.loads((DOCTYPES_DIR / FILES[name]).read_text()).get("permissions", []):
            ensure_role(perm["role"])
    for role in ("Item Manager",):
        ensure_role(role)
    # First pass: Links among our DocTypes only to those made before; second pass: all of them.
    made = set(existing)
    for name in FILES:
        doc = adapt_doctype(name, made)
        doc.pop("allow_auto_repeat", None)  # adds a Custom Field to the DocType: only once it exists
        try:
            frappe.get_doc(doc).insert()
        except Exception:
            say(f"could not create DocType {name}")
            raise
        made.add(name)
    for name in FILES:
        final = adapt_doctype(name, existing | ours)
        doc = frappe.get_doc("DocType", name)
        wanted = {f["fieldname"]: f for f in final["fields"]}
        changed = bool(final.get("allow_auto_repeat")) and not doc.allow_auto_repeat
        doc.allow_auto_repeat = final.get("allow_auto_repeat", 0)
        for df in doc.fields:
            want = wanted.get(df.fieldname)
            if want and (df.fieldtype, df.options, df.fetch_from) != (want["fieldtype"], want.get("options"), want.get("fetch_from")):
                df.fieldtype, df.options, df.fetch_from = want["fieldtype"], want.get("options"), want.get("fetch_from")
                df.fetch_if_empty = want.get("fetch_if_empty", 0)
                changed = True
        if changed:
            doc.save()
    frappe.db.commit()
    say(f"{len(FILES)} DocTypes from ERPNext's definitions")


def make_custom_fields() -> None:
    for fieldname, label, fieldtype, after in (("custom_shelf", "Shelf", "Data", "item_name"), ("custom_weight_kg", "Weight (kg)", "Float", "custom_shelf")):
        frappe.get_doc({"doctype": "Custom Field", "dt": "Item", "fieldname": fieldname, "label": label, "fieldtype": fieldtype, "insert_after": after}).insert()
    frappe.db.commit()


# -- users --------------------------------------------------------------------------------------------------------------


def make_user(email: str, first_name: str, roles: list) -> dict:
    for role in roles:
        ensure_role(role)
    user = frappe.get_doc({"doctype": "User", "email": email, "first_name": first_name, "send_welcome_email": 0, "user_type": "System User", "roles": [{"role": r} for r in roles]})
    user.insert(ignore_permissions=True)
    api_key, api_secret = frappe.generate_hash(length=15), frappe.generate_hash(length=15)
    user = frappe.get_doc("User", email)
    user.api_key = api_key
    user.api_secret = api_secret
    user.save(ignore_permissions=True)
    return {"user": email, "api_key": api_key, "api_secret": api_secret, "roles": roles}


def make_users() -> dict:
    all_roles = sorted({p["role"] for f in FILES.values() for p in json.loads((DOCTYPES_DIR / f).read_text()).get("permissions", [])})
    users = {
        "api": make_user(API_USER, "API Reader", ["System Manager", *[r for r in all_roles if r != "System Manager"]]),
        "restricted": make_user(RESTRICTED_USER, "Restricted Reader", RESTRICTED_ROLES),
        # Every stream's DocType, but not Deleted Document (only System Manager may read it in a standard installation).
        "no_deletions": make_user(NO_DELETIONS_USER, "No Deletions Reader", [r for r in all_roles if r != "System Manager"]),
    }
    frappe.db.commit()
    return users


# -- documents ----------------------------------------------------------------------------------------------------------

ODD_CODES = [
    "Bolt M8 x 40, DIN 933 / A2-70",
    "Screw 3/8\" x 2\" (zinc)",
    "O'Brien's Pipe Wrench 14\"",
    "Hydrogen Peroxide 35% Solution",
    "Nuts & Bolts Kit #10",
    "Cable+Connector 2m",
    "Café crème filter é",
    "Grüße Schraubendreher Größe ü",
    "日本 精密ネジ M3",
    "Washer #10, stainless",
    "Tape 50% off & more / promo",
    "Ring \"O\" 12mm, NBR",
    "Hose 1/2\" & clamp + seal",
    "Kugellager 6204-2RS, Ø47",
    "Ñandú plush 30 cm",
    "Label ½ inch #2",
]
WORDS = [
    "Stainless", "Steel", "Hex", "Socket", "Cap", "Screw", "Flange", "Nut", "Washer", "Bearing", "Sealed", "Deep",
    "Groove", "Industrial", "Grade", "Galvanised", "Coupling", "Valve", "Brass", "Copper", "Fitting", "Elbow", "Tee",
    "Reducer", "Gasket", "Pressure", "Rated", "Assembly", "Replacement", "Cartridge", "Filter", "Element",
]


def item_codes(rng: random.Random, count: int) -> list:
    codes = []
    for i in range(count):
        kind = i % 10
        if kind < 4:
            code = f"ITM-{i:05d}"
        elif kind < 7:
            # long catalogue codes, 100-140 characters
            parts = [f"LC{i:05d}"]
            target = rng.randint(100, 140)
            while len(" ".join(parts)) < target:
                parts.append(rng.choice(WORDS))
            code = " ".join(parts).replace(" Steel", ", Steel").replace(" Brass", " / Brass").replace(" Rated", " 100% Rated")
            code = code[:target].rstrip(" ,/%")
        else:
            code = f"{ODD_CODES[i % len(ODD_CODES)]} {i:05d}"
        codes.append(code)
    return codes


def insert(doc: dict):
    d = frappe.get_doc(doc)
    d.insert()
    return d


def make_documents(rng: random.Random, facts: dict) -> None:
    for currency in ("EUR", "USD"):
        if not frappe.db.exists("Currency", currency):
            frappe.get_doc({"doctype": "Currency", "currency_name": currency, "enabled": 1}).insert(ignore_permissions=True)
        else:
            frappe.db.set_value("Currency", currency, "enabled", 1)

    # Warehouses: per company a root group, leaves, a group with children, some disabled.
    warehouses = {}
    for company, abbr in COMPANIES.items():
        root = f"All Warehouses - {abbr}"
        insert({"doctype": "Warehouse", "warehouse_name": root, "company": company, "is_group": 1})
        leaves = [f"Stores - {abbr}", f"Finished Goods - {abbr}", f"Work In Progress - {abbr}"]
        for name in leaves:
            insert({"doctype": "Warehouse", "warehouse_name": name, "company": company, "parent_warehouse": root, "city": "Lyon"})
        group = f"Regional Stores, Europe - {abbr}"
        insert({"doctype": "Warehouse", "warehouse_name": group, "company": company, "parent_warehouse": root, "is_group": 1})
        for name in (f"Lyon Dépôt - {abbr}", f"München Lager - {abbr}", f"東京 倉庫 - {abbr}"):
            insert({"doctype": "Warehouse", "warehouse_name": name, "company": company, "parent_warehouse": group})
            leaves.append(name)
        insert({"doctype": "Warehouse", "warehouse_name": f"Old Depot (closed) - {abbr}", "company": company, "parent_warehouse": root, "disabled": 1})
        insert({"doctype": "Warehouse", "warehouse_name": f"Spare Depot - {abbr}", "company": company, "parent_warehouse": root})
        warehouses[company] = leaves
    facts["warehouses"] = warehouses
    say("warehouses")

    # Items: about 1,000; some disabled, many with reorder levels in several warehouses.
    codes = item_codes(rng, 1000)
    all_leaves = warehouses["Acme Corp"] + warehouses["Zeta GmbH & Co. KG"]
    for i, code in enumerate(codes):
        reorder = []
        if i % 3 == 0:
            for wh in rng.sample(all_leaves, rng.randint(1, 4)):
                reorder.append({"warehouse": wh, "warehouse_reorder_level": rng.randint(5, 50), "warehouse_reorder_qty": rng.randint(10, 200), "material_request_type": "Purchase"})
        insert(
            {
                "doctype": "Item",
                "item_code": code,
                "item_name": code[:140],
                "item_group": rng.choice(["Products", "Raw Material", "Sub Assemblies", "Consumables"]),
                "stock_uom": rng.choice(["Nos", "Kg", "Box"]),
                "description": f"<p>{code}</p>",
                "disabled": 1 if i % 17 == 5 else 0,
                "is_stock_item": 1,
                "standard_rate": round(rng.uniform(0.5, 900), 2),
                "custom_shelf": f"S-{i % 40:02d}/{i % 7}",
                "custom_weight_kg": round(rng.uniform(0.01, 80), 3),
                "reorder_levels": reorder,
            }
        )
        if i % 200 == 199:
            frappe.db.commit()
            say(f"{i + 1} items")
    frappe.db.commit()
    facts["items"] = codes

    # Bins: item x warehouse, with quantities.
    bins = 0
    for i, code in enumerate(codes):
        if i % 17 == 5:
            continue
        for wh in rng.sample(all_leaves, 3 if i % 4 else 1):
            actual = rng.randint(0, 500)
            reserved, ordered = rng.randint(0, 50), rng.randint(0, 80)
            insert({"doctype": "Bin", "item_code": code, "warehouse": wh, "actual_qty": actual, "reserved_qty": reserved, "ordered_qty": ordered, "projected_qty": actual - reserved + ordered, "stock_uom": "Nos"})
            bins += 1
        if i % 250 == 249:
            frappe.db.commit()
            say(f"{bins} bins")
    frappe.db.commit()

    # Suppliers and customers: names as people write them.
    suppliers, customers = [], []
    for i in range(60):
        name = rng.choice(["Müller & Söhne", "O'Neil Supplies", "Fer, Acier & Cie", "北京 Trading", "A/B Components", "Ölwerk #"]) + f" {i:03d}"
        insert({"doctype": "Supplier", "supplier_name": name, "supplier_group": "Raw Material", "supplier_type": "Company", "disabled": 1 if i % 11 == 3 else 0})
        suppliers.append(name)
    for i in range(120):
        name = rng.choice(["Dupont, Durand & Fils", "Zoë's Café", "Smith + Sons", "100% Organic Ltd", "Tōkyō Shōji", "Ivan \"The\" Builder"]) + f" {i:03d}"
        insert({"doctype": "Customer", "customer_name": name, "customer_type": rng.choice(["Company", "Individual"]), "customer_group": "Commercial", "territory": "All Territories", "disabled": 1 if i % 13 == 4 else 0})
        customers.append(name)
    frappe.db.commit()
    say("suppliers and customers")
    enabled_codes = [c for i, c in enumerate(codes) if i % 17 != 5]

    def lines(kind: str, company: str) -> list:
        rows = []
        for code in rng.sample(enabled_codes, rng.randint(2, 6)):
            qty, rate = rng.randint(1, 40), round(rng.uniform(1, 500), 2)
            row = {"item_code": code, "item_name": code, "description": code, "qty": qty, "uom": "Nos", "stock_uom": "Nos", "conversion_factor": 1, "rate": rate, "amount": qty * rate, "warehouse": rng.choice(warehouses[company])}
            if kind == "po":
                row.update({"schedule_date": "2026-12-01", "base_rate": rate, "base_amount": qty * rate})
            if kind == "se":
                row = {"item_code": code, "qty": qty, "transfer_qty": qty, "uom": "Nos", "stock_uom": "Nos", "conversion_factor": 1, "s_warehouse": warehouses[company][0], "t_warehouse": rng.choice(warehouses[company][1:]), "basic_rate": rate}
            rows.append(row)
        return rows

    def transact(doc: dict, fate: str, submitted_status: str):
        d = insert(doc)
        if fate in ("submit", "cancel"):
            if "status" in doc:
                d.status = submitted_status
            d.submit()
        if fate == "cancel":
            d.cancel()
            if "status" in doc:
                d.db_set("status", "Cancelled")
        return d

    fates = ["draft"] * 4 + ["submit"] * 5 + ["cancel"] * 2
    made = {"Sales Order": [], "Purchase Order": [], "Stock Entry": []}
    for i in range(300):
        company = "Acme Corp" if i % 4 else "Zeta GmbH & Co. KG"
        customer = rng.choice(customers[:100])
        d = transact(
            {
                "doctype": "Sales Order", "naming_series": "SAL-ORD-.YYYY.-", "customer": customer, "customer_name": customer, "order_type": "Sales",
                "company": company, "transaction_date": "2026-01-15", "delivery_date": "2026-02-15", "currency": "EUR", "conversion_rate": 1,
                "selling_price_list": "Standard Selling", "price_list_currency": "EUR", "plc_conversion_rate": 1, "status": "Draft", "items": lines("so", company),
            },
            fates[i % len(fates)], "To Deliver and Bill",
        )
        made["Sales Order"].append(d.name)
    frappe.db.commit()
    say("sales orders")
    for i in range(260):
        company = "Acme Corp" if i % 3 else "Zeta GmbH & Co. KG"
        supplier = rng.choice(suppliers[:50])
        d = transact(
            {
                "doctype": "Purchase Order", "naming_series": "PUR-ORD-.YYYY.-", "supplier": supplier, "supplier_name": supplier, "title": supplier,
                "company": company, "transaction_date": "2026-01-10", "schedule_date": "2026-12-01", "currency": "EUR", "conversion_rate": 1, "status": "Draft", "items": lines("po", company),
            },
            fates[(i + 3) % len(fates)], "To Receive and Bill",
        )
        made["Purchase Order"].append(d.name)
    for i in range(240):
        company = "Acme Corp" if i % 3 else "Zeta GmbH & Co. KG"
        d = transact(
            {"doctype": "Stock Entry", "naming_series": "MAT-STE-.YYYY.-", "stock_entry_type": "Material Transfer", "purpose": "Material Transfer", "company": company, "posting_date": "2026-01-20", "items": lines("se", company)},
            fates[(i + 5) % len(fates)], "",
        )
        made["Stock Entry"].append(d.name)
    frappe.db.commit()
    say("purchase orders and stock entries")

    # Amendments of a few cancelled sales orders (names like SAL-ORD-2026-00003-1).
    for name in [n for n in made["Sales Order"] if frappe.db.get_value("Sales Order", n, "docstatus") == 2][:5]:
        amended = frappe.copy_doc(frappe.get_doc("Sales Order", name))
        amended.amended_from = name
        amended.status = "Draft"
        amended.insert()
        made["Sales Order"].append(amended.name)
    frappe.db.commit()

    # Deletions through the document API: Frappe writes the Deleted Document rows.
    deleted = {}
    referenced = set(frappe.get_all("Bin", pluck="item_code")) | {r[0] for r in frappe.db.sql("select item_code from `tabSales Order Item` union select item_code from `tabPurchase Order Item` union select item_code from `tabStock Entry Detail`")}
    deleted["Item"] = [c for c in codes if c not in referenced][:15]
    deleted["Sales Order"] = [n for n in made["Sales Order"] if frappe.db.get_value("Sales Order", n, "docstatus") != 1][:12]
    deleted["Purchase Order"] = [n for n in made["Purchase Order"] if frappe.db.get_value("Purchase Order", n, "docstatus") == 0][:4]
    deleted["Stock Entry"] = [n for n in made["Stock Entry"] if frappe.db.get_value("Stock Entry", n, "docstatus") == 2][:3]
    deleted["Customer"] = customers[110:115]
    deleted["Supplier"] = suppliers[55:58]
    deleted["Bin"] = frappe.get_all("Bin", pluck="name", order_by="name asc", limit=10)
    deleted["Warehouse"] = [f"Spare Depot - {abbr}" for abbr in COMPANIES.values()]
    for doctype, names in deleted.items():
        for name in names:
            if doctype == "Sales Order" and frappe.db.exists("Sales Order", {"amended_from": name}):
                continue
            frappe.delete_doc(doctype, name)
    frappe.db.commit()
    facts["deleted"] = deleted
    say("deletions")


def spread_timestamps(rng: random.Random, facts: dict) -> None:
    """`creation`/`modified` over months (child rows take their parent's); one large group shares one `modified`."""
    span = (SPREAD_TO - SPREAD_FROM).total_seconds()
    shared_items = set(rng.sample(sorted(frappe.get_all("Item", pluck="name")), 620))
    shared = {"Item": len(shared_items), "Bin": 0, "Sales Order": 0, "Customer": 0}
    for doctype in ("Warehouse", "Item", "Bin", "Supplier", "Customer", "Sales Order", "Purchase Order", "Stock Entry"):
        rows = [r[0] for r in frappe.db.sql(f"select name from `tab{doctype}` order by name")]
        values = []
        for name in rows:
            created = SPREAD_FROM + timedelta(seconds=rng.uniform(0, span * 0.9))
            modified = created + timedelta(seconds=rng.uniform(0, (SPREAD_TO - created).total_seconds()))
            modified_s = modified.strftime("%Y-%m-%d %H:%M:%S.%f")
            if (doctype == "Item" and name in shared_items) or (doctype in ("Bin", "Sales Order", "Customer") and rng.random() < {"Bin": 0.2, "Sales Order": 0.5, "Customer": 0.3}[doctype]):
                modified_s = SHARED_MODIFIED
                created = min(created, datetime(2025, 6, 1))
                if doctype != "Item":
                    shared[doctype] += 1
            values.append((created.strftime("%Y-%m-%d %H:%M:%S.%f"), modified_s, name))
        for created_s, modified_s, name in values:
            frappe.db.sql(f"update `tab{doctype}` set creation=%s, modified=%s where name=%s", (created_s, modified_s, name))
    # As in ERPNext, an item exists before its bins (queries/ rely on it to tell an item's bins from a deleted namesake's).
    frappe.db.sql("""update `tabItem` i join (select item_code, min(creation) as first from `tabBin` group by item_code) b
        on b.item_code = i.name set i.creation = b.first - interval 1 second where b.first <= i.creation""")
    for child, parent in (("Item Reorder", "Item"), ("Sales Order Item", "Sales Order"), ("Purchase Order Item", "Purchase Order"), ("Stock Entry Detail", "Stock Entry")):
        frappe.db.sql(f"update `tab{child}` c join `tab{parent}` p on c.parent = p.name and c.parenttype = %s set c.modified = p.modified, c.creation = p.creation", (parent,))
    frappe.db.commit()
    facts["shared_modified"] = {"modified": SHARED_MODIFIED, "rows": shared}
    say(f"timestamps spread; {sum(shared.values())} rows share modified {SHARED_MODIFIED}")


def make() -> None:
    connect()
    rng = random.Random(11)
    facts = {}
    make_doctypes()
    make_custom_fields()
    facts["users"] = make_users()
    make_documents(rng, facts)
    spread_timestamps(rng, facts)
    counts = {dt: frappe.db.count(dt) for dt in ("Item", "Item Reorder", "Bin", "Warehouse", "Supplier", "Customer", "Sales Order", "Sales Order Item", "Purchase Order", "Purchase Order Item", "Stock Entry", "Stock Entry Detail", "Deleted Document")}
    facts["counts"] = counts
    facts["frappe_version"] = frappe.__version__
    out = Path(os.environ.get("REAL_FRAPPE_OUT", "../data.json"))
    out.write_text(json.dumps(facts, indent=1, default=str, ensure_ascii=False))
    out.chmod(0o600)
    say(f"done: {counts}")
    frappe.destroy()


def exec_snippet() -> None:
    """Run the Python on stdin inside the site (as Administrator unless it sets a user); print json of `result`."""
    connect()
    scope = {"frappe": frappe, "result": None}
    exec(compile(sys.stdin.read(), "<snippet>", "exec"), scope)
    frappe.db.commit()
    sys.stdout.write("\n@@RESULT@@" + json.dumps(scope["result"], default=str, ensure_ascii=False) + "\n")
    frappe.destroy()


if __name__ == "__main__":
    {"make": make, "exec": exec_snippet}[sys.argv[1]]()

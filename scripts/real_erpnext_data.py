"""Data on a real ERPNext site, made in-process through ERPNext's own code (documents inserted, submitted, cancelled,
amended, mapped from one another and deleted as a user's clicks would), after ERPNext's setup wizard.

Run with the site's Python from its bench's sites/ directory (scripts/real-erpnext does):

    REAL_FRAPPE_SITE=erpnext-v15.localhost REAL_FRAPPE_OUT=../data.json python real_erpnext_data.py make
    REAL_FRAPPE_SITE=erpnext-v15.localhost python real_erpnext_data.py exec < snippet.py   # runs a snippet in the site
                                                                  # (helpers below in scope), prints json of `result`

`make`: the setup wizard (company, country, currency, a fiscal year, the Standard chart of accounts, a time zone with
daylight saving time); warehouses (a group with children, a disabled one); a custom field on Item; items (odd and
long codes, reorder rules, some on a warehouse group, a template with variants, disabled and end-of-life items);
customers and suppliers; Material Receipts and transfers; Purchase and Sales Orders; Purchase Receipts, Delivery
Notes and Sales Invoices made from them (some invoices already past due); a Payment Entry against an invoice; drafts,
cancellations, an amendment; deletions with frappe.delete_doc (an item whose Bins ERPNext removes by SQL included);
API users who are not Administrator. Deterministic (seeded); posting dates relative to today.
"""

import json
import os
import random
import sys
import time
from pathlib import Path

import frappe
from frappe.utils import add_days, add_months, getdate, nowdate

COMPANY = "Kestrel Tools"
ABBR = "KT"
TIME_ZONE = "America/New_York"
API_USER = "api-reader@example.com"
RESTRICTED_USER = "restricted-reader@example.com"
NO_DELETIONS_USER = "no-deletions-reader@example.com"
# Every role that reads one of the connector's DocTypes (and what the business-day snippets do) in ERPNext.
READER_ROLES = ["Stock Manager", "Stock User", "Sales Manager", "Sales User", "Purchase Manager", "Purchase User",
                "Accounts Manager", "Accounts User", "Item Manager", "Manufacturing Manager", "Manufacturing User",
                "Sales Master Manager", "Projects User", "HR User"]  # the last three: Item Price, Project and Task, Employee
# Reads Item, Sales Order, Customer, Supplier, Warehouse and Stock Entry, but neither Bin nor Purchase Order (every role
# that may read Purchase Order may read Bin in ERPNext) nor Deleted Document.
RESTRICTED_ROLES = ["Accounts User", "Manufacturing User"]
ODD_CODES = ["Bolt M8 x 40, DIN 933 / A2-70", 'Screw 3/8" x 2" (zinc)', "O'Brien's Pipe Wrench 14\"", "Peroxide 35% Solution",
             "Nuts & Bolts Kit #10", "Cable+Connector 2m", "Grüße Schraubendreher Größe ü", "日本 精密ネジ M3", "Kugellager 6204-2RS, Ø47"]
WORDS = ["Stainless", "Steel", "Hex", "Socket", "Flange", "Washer", "Bearing", "Sealed", "Groove", "Industrial", "Grade",
         "Galvanised", "Coupling", "Valve", "Brass", "Copper", "Fitting", "Elbow", "Reducer", "Gasket", "Pressure", "Assembly"]

T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[data {time.monotonic() - T0:6.1f} s] {message}", flush=True)


def connect() -> None:
    frappe.init(site=os.environ["REAL_FRAPPE_SITE"], sites_path=".")
    frappe.connect()
    frappe.set_user("Administrator")
    frappe.flags.mute_emails = True


def wh(name: str) -> str:
    return f"{name} - {ABBR}"


def submitted(doc):
    doc.insert()
    doc.submit()
    return doc


# -- the setup wizard ---------------------------------------------------------------------------------------------------


def setup_wizard() -> None:
    from frappe.desk.page.setup_wizard.setup_wizard import setup_complete

    fy_start = getdate(add_days(nowdate(), -200))  # the back-dated documents fall in it; a fiscal year is one year
    setup_complete({
        "currency": "USD", "full_name": "Site Owner", "company_name": COMPANY, "timezone": TIME_ZONE, "company_abbr": ABBR,
        "industry": "Manufacturing", "country": "United States", "fy_start_date": str(fy_start),
        "fy_end_date": str(add_days(add_months(fy_start, 12), -1)), "language": "english", "company_tagline": "Tools",
        "email": "owner@example.com", "password": "owner-password", "chart_of_accounts": "Standard",
    })
    frappe.db.set_single_value("Stock Settings", "auto_indent", 1)  # the reorder job raises Material Requests
    frappe.db.commit()
    say(f"setup wizard done: {COMPANY} ({ABBR}), {TIME_ZONE}")


def make_user(email: str, first_name: str, roles: list) -> dict:
    user = frappe.get_doc({"doctype": "User", "email": email, "first_name": first_name, "send_welcome_email": 0,
                           "user_type": "System User", "roles": [{"role": r} for r in roles]})
    user.insert(ignore_permissions=True)
    api_key, api_secret = frappe.generate_hash(length=15), frappe.generate_hash(length=15)
    user = frappe.get_doc("User", email)
    user.api_key = api_key
    user.api_secret = api_secret
    user.save(ignore_permissions=True)
    return {"user": email, "api_key": api_key, "api_secret": api_secret, "roles": roles}


def make_users() -> dict:
    users = {
        "api": make_user(API_USER, "API Reader", ["System Manager", *READER_ROLES]),
        "restricted": make_user(RESTRICTED_USER, "Restricted Reader", RESTRICTED_ROLES),
        # Every stream's DocType, but not Deleted Document (only System Manager may read it in a standard installation).
        "no_deletions": make_user(NO_DELETIONS_USER, "No Deletions Reader", READER_ROLES),
    }
    frappe.db.commit()
    return users


# -- master data --------------------------------------------------------------------------------------------------------


def make_warehouses() -> dict:
    def warehouse(name, parent, is_group=0, disabled=0):
        doc = frappe.get_doc({"doctype": "Warehouse", "warehouse_name": name, "company": COMPANY, "is_group": is_group,
                              "parent_warehouse": parent})
        doc.insert()
        if disabled:
            doc.db_set("disabled", 1)  # as the form's checkbox saves it
        return doc.name

    regional = warehouse("Regional", wh("All Warehouses"), is_group=1)
    east, west = warehouse("East", regional), warehouse("West", regional)
    closed = warehouse("Closed Depot", wh("All Warehouses"), disabled=1)
    say("warehouses: Regional (East, West), a disabled one")
    return {"stores": wh("Stores"), "group": regional, "east": east, "west": west, "disabled": closed}


def make_custom_field() -> None:
    from frappe.custom.doctype.custom_field.custom_field import create_custom_field

    create_custom_field("Item", {"fieldname": "custom_shelf", "label": "Shelf", "fieldtype": "Data", "insert_after": "item_group"})


def item_codes(rng: random.Random, count: int) -> list:
    codes = list(ODD_CODES)
    while len(codes) < count:
        n = len(codes)
        if n % 4 == 0:  # long catalogue codes (ERPNext allows 140 characters)
            code = " ".join(rng.choice(WORDS) for _ in range(18))[: rng.randint(100, 140)].strip() + f" {n}"
        else:
            code = f"KT-{n:04d}-{rng.choice(WORDS)}"
        codes.append(code)
    return codes


def make_items(rng: random.Random, warehouses: dict) -> dict:
    codes = item_codes(rng, 120)
    for i, code in enumerate(codes):
        rules = []
        if i % 3 == 0:
            rules.append({"warehouse": warehouses["stores"], "warehouse_reorder_level": rng.choice([5, 20, 50]),
                          "warehouse_reorder_qty": rng.choice([10, 40]), "material_request_type": "Purchase"})
        if i % 5 == 0:
            rules.append({"warehouse": warehouses["east"], "warehouse_group": warehouses["group"], "warehouse_reorder_level": 30,
                          "warehouse_reorder_qty": 25, "material_request_type": "Transfer" if i % 10 else "Purchase"})
        frappe.get_doc({"doctype": "Item", "item_code": code, "item_name": code[:140], "item_group": "Products", "stock_uom": "Nos",
                        "is_stock_item": 1, "valuation_rate": 10 + i % 17, "custom_shelf": f"S{i % 9}", "reorder_levels": rules}).insert()
    frappe.get_doc({"doctype": "Item Attribute", "attribute_name": "Grade", "item_attribute_values": [
        {"attribute_value": "Fine", "abbr": "F"}, {"attribute_value": "Coarse", "abbr": "C"}]}).insert()
    frappe.get_doc({"doctype": "Item", "item_code": "KT-TEMPLATE-SANDPAPER", "item_group": "Products", "stock_uom": "Nos", "is_stock_item": 1,
                    "has_variants": 1, "attributes": [{"attribute": "Grade"}],
                    "reorder_levels": [{"warehouse": warehouses["stores"], "warehouse_reorder_level": 15, "warehouse_reorder_qty": 30,
                                        "material_request_type": "Purchase"}]}).insert()
    from erpnext.controllers.item_variant import create_variant

    variants = []
    for grade in ("Fine", "Coarse"):
        variant = create_variant("KT-TEMPLATE-SANDPAPER", {"Grade": grade})
        variant.insert()
        variants.append(variant.name)
    disabled = codes[7]
    frappe.db.set_value("Item", disabled, "disabled", 1)  # as the form saves it (modified moves)
    end_of_life = codes[10]
    frappe.db.set_value("Item", end_of_life, "end_of_life", add_days(nowdate(), -3))
    frappe.db.commit()
    say(f"items: {len(codes)} + a template with {len(variants)} variants")
    return {"codes": codes, "variants": variants, "disabled": disabled, "end_of_life": end_of_life}


def make_parties(rng: random.Random) -> dict:
    customers = [frappe.get_doc({"doctype": "Customer", "customer_name": f"Customer {n:02d}{' & Sons' if n % 4 == 0 else ''}",
                                 "customer_group": "Commercial", "territory": "United States"}).insert().name for n in range(20)]
    suppliers = [frappe.get_doc({"doctype": "Supplier", "supplier_name": f"Supplier {n:02d}", "supplier_group": "Raw Material"}).insert().name
                 for n in range(10)]
    frappe.db.set_value("Customer", customers[-1], "disabled", 1)
    frappe.db.set_value("Supplier", suppliers[-1], "disabled", 1)
    frappe.db.commit()
    say(f"{len(customers)} customers, {len(suppliers)} suppliers")
    return {"customers": customers[:-1], "suppliers": suppliers[:-1], "disabled_customer": customers[-1]}


# -- transactions (helpers used by the suite's business-day snippets too) ---------------------------------------------


def stock_entry(purpose: str, rows: list, submit: bool = True, posting_date: str = None):
    """rows: (item, qty, source warehouse or None, target warehouse or None, rate)."""
    doc = frappe.get_doc({"doctype": "Stock Entry", "stock_entry_type": purpose, "purpose": purpose, "company": COMPANY,
                          "items": [{"item_code": item, "qty": qty, "s_warehouse": source, "t_warehouse": target, "basic_rate": rate,
                                     "conversion_factor": 1, "uom": "Nos"} for item, qty, source, target, rate in rows]})
    if posting_date:
        doc.set_posting_time, doc.posting_date = 1, posting_date
    doc.insert()
    if submit:
        doc.submit()
    return doc


def order(doctype: str, party: str, rows: list, date_field: str, days: int = 7, submit: bool = True):
    party_field = "customer" if doctype == "Sales Order" else "supplier"
    warehouse = wh("Stores")
    doc = frappe.get_doc({"doctype": doctype, party_field: party, "company": COMPANY, "transaction_date": nowdate(),
                          date_field: add_days(nowdate(), days), "set_warehouse": warehouse,
                          "items": [{"item_code": item, "qty": qty, "rate": rate, "warehouse": warehouse, date_field: add_days(nowdate(), days)}
                                    for item, qty, rate in rows]})
    doc.insert()
    if submit:
        doc.submit()
    return doc


def mapped(method: str, source: str, posting_date: str = None, qty_share: float = 1.0, submit: bool = True):
    """A document made from another by ERPNext's own mapper (what the form's Create button calls)."""
    doc = frappe.get_attr(method)(source)
    if qty_share != 1.0:
        for row in doc.items:
            row.qty = max(1, int(row.qty * qty_share))
    if posting_date:
        doc.set_posting_time, doc.posting_date = 1, posting_date
        if doc.doctype == "Sales Invoice":
            doc.due_date = add_days(posting_date, 30)
            doc.payment_schedule = []
    doc.insert()
    if submit:
        doc.submit()
    return doc


SO = "erpnext.selling.doctype.sales_order.sales_order"
PO = "erpnext.buying.doctype.purchase_order.purchase_order"
DN = "erpnext.stock.doctype.delivery_note.delivery_note"


def make_transactions(rng: random.Random, items: dict, parties: dict, warehouses: dict) -> dict:
    facts = {}
    stocked = [c for c in items["codes"] if c not in (items["disabled"], items["end_of_life"])] + items["variants"]
    # Opening stock: Material Receipts into Stores (a quarter of the items low, so reorder rules come due) and East.
    low = set(stocked[::4])
    for n in range(0, len(stocked), 10):
        rows = [(code, 3 if code in low else rng.choice([40, 90]), None, warehouses["stores"], 5 + k) for k, code in enumerate(stocked[n:n + 10])]
        rows += [(code, 12, None, warehouses["east"], 6) for code in stocked[n:n + 10:3]]
        stock_entry("Material Receipt", rows, posting_date=add_days(nowdate(), -120))
    stocked = [code for code in stocked if code not in low]  # what orders and transfers move
    stock_entry("Material Transfer", [(stocked[1], 1, warehouses["stores"], warehouses["west"], 0), (stocked[4], 1, warehouses["stores"], warehouses["west"], 0)])
    draft_entry = stock_entry("Material Receipt", [(stocked[2], 5, None, warehouses["stores"], 7)], submit=False).name
    cancelled_entry = stock_entry("Material Receipt", [(stocked[3], 4, None, warehouses["west"], 7)])
    cancelled_entry.cancel()
    say("stock: receipts, a transfer, a draft, a cancellation")

    # Purchase Orders; receipts from some of them; a cancelled and amended one; a draft.
    pos = []
    for n in range(16):
        rows = [(rng.choice(stocked), rng.randint(5, 30), 4 + n % 5) for _ in range(rng.randint(1, 4))]
        pos.append(order("Purchase Order", parties["suppliers"][n % len(parties["suppliers"])], rows, "schedule_date", submit=n != 15))
    for po in pos[:6]:
        mapped(f"{PO}.make_purchase_receipt", po.name, qty_share=0.5 if po.name == pos[0].name else 1.0)
    amended = frappe.copy_doc(pos[7])
    pos[7].reload()
    pos[7].cancel()
    amended.amended_from = pos[7].name
    amended.insert()
    amended.submit()
    say("purchase orders, receipts, an amendment")

    # Sales Orders; deliveries and invoices from them (some invoices back-dated, already past due); a payment.
    sos = []
    for n in range(24):
        rows = [(rng.choice(stocked), rng.randint(1, 6), 15 + n % 7) for _ in range(rng.randint(1, 5))]
        sos.append(order("Sales Order", parties["customers"][n % len(parties["customers"])], rows, "delivery_date", submit=n < 21))
    for so in sos[:8]:
        mapped(f"{SO}.make_delivery_note", so.name, qty_share=0.5 if so.name == sos[1].name else 1.0)
    invoices = []
    for k, so in enumerate(sos[:6]):
        dn = frappe.db.get_value("Delivery Note Item", {"against_sales_order": so.name, "docstatus": 1}, "parent")
        posting = add_days(nowdate(), -60) if k < 3 else None
        invoices.append(mapped(f"{DN}.make_sales_invoice", dn, posting_date=posting).name)
    invoices.append(mapped(f"{SO}.make_sales_invoice", sos[9].name).name)
    from erpnext.accounts.doctype.payment_entry.payment_entry import get_payment_entry

    payment = get_payment_entry("Sales Invoice", invoices[3])
    payment.reference_no, payment.reference_date = "CHQ-0001", nowdate()
    payment.insert()
    payment.submit()
    sos[12].reload()
    sos[12].cancel()
    say("sales orders, deliveries, invoices (3 past due), a payment, a cancellation")
    facts.update({"past_due_invoices": invoices[:3], "paid_invoice": invoices[3], "draft_stock_entry": draft_entry})
    return facts


def make_other_doctypes() -> dict:
    """A few documents of DocTypes across modules that users pick from the catalog (Item Price exists already: ERPNext
    adds one for each rate a transaction sets)."""
    plenty = frappe.get_all("Bin", filters={"warehouse": wh("Stores"), "actual_qty": [">=", 20]}, pluck="item_code", order_by="item_code")
    customer = frappe.get_all("Customer", filters={"disabled": 0}, pluck="name", order_by="name")[3]
    made = {}
    made["Lead"] = [frappe.get_doc({"doctype": "Lead", "first_name": f"Lead {n}", "company_name": f"Prospect {n} Ltd"}).insert().name for n in range(3)]
    made["Project"] = [frappe.get_doc({"doctype": "Project", "project_name": f"Workshop refit {n}", "company": COMPANY}).insert().name for n in range(2)]
    made["Task"] = [frappe.get_doc({"doctype": "Task", "subject": f"Task {n}", "project": made["Project"][n % 2]}).insert().name for n in range(4)]
    made["Employee"] = [frappe.get_doc({"doctype": "Employee", "first_name": f"Worker {n}", "gender": "Female" if n % 2 else "Male", "date_of_birth": "1990-05-0%d" % (n + 1),
        "date_of_joining": "2024-01-15", "company": COMPANY}).insert().name for n in range(3)]
    q = frappe.get_doc({"doctype": "Quotation", "quotation_to": "Customer", "party_name": customer, "company": COMPANY, "transaction_date": nowdate(),
        "items": [{"item_code": plenty[0], "qty": 3, "rate": 20}]}).insert(); q.submit()
    made["Quotation"] = [q.name, frappe.get_doc({"doctype": "Quotation", "quotation_to": "Customer", "party_name": customer, "company": COMPANY,
        "transaction_date": nowdate(), "items": [{"item_code": plenty[1], "qty": 1, "rate": 20}]}).insert().name]
    mr = frappe.get_doc({"doctype": "Material Request", "material_request_type": "Purchase", "company": COMPANY, "transaction_date": nowdate(), "schedule_date": add_days(nowdate(), 5),
        "items": [{"item_code": plenty[2], "qty": 4, "schedule_date": add_days(nowdate(), 5), "warehouse": wh("Stores")}]}).insert(); mr.submit()
    made["Material Request"] = [mr.name]
    cash = frappe.get_value("Account", {"account_type": "Cash", "company": COMPANY, "is_group": 0}, "name")
    expense = frappe.get_value("Account", {"root_type": "Expense", "company": COMPANY, "is_group": 0}, "name")
    je = frappe.get_doc({"doctype": "Journal Entry", "company": COMPANY, "posting_date": nowdate(), "accounts": [
        {"account": expense, "debit_in_account_currency": 50, "cost_center": frappe.get_value("Company", COMPANY, "cost_center")},
        {"account": cash, "credit_in_account_currency": 50}]}).insert(); je.submit()
    made["Journal Entry"] = [je.name]
    sr = frappe.get_doc({"doctype": "Stock Reconciliation", "company": COMPANY, "purpose": "Stock Reconciliation", "items": [
        {"item_code": plenty[3], "warehouse": wh("Stores"), "qty": 77, "valuation_rate": 9}]}).insert(); sr.submit()
    made["Stock Reconciliation"] = [sr.name]
    frappe.db.commit()
    say(f"other DocTypes: {', '.join(made)}")
    return made


def make_deletions(items: dict, parties: dict, warehouses: dict) -> dict:
    from erpnext.stock.utils import get_or_make_bin

    # An item with Bins but no ledger: its on_trash deletes the Bins by SQL (no Deleted Document for them).
    doomed = frappe.get_doc({"doctype": "Item", "item_code": "KT-DISCONTINUED", "item_group": "Products", "stock_uom": "Nos",
                             "is_stock_item": 1}).insert().name
    bins = [get_or_make_bin(doomed, warehouses["stores"]), get_or_make_bin(doomed, warehouses["east"])]
    frappe.db.commit()
    frappe.delete_doc("Item", doomed)
    draft_so = frappe.get_all("Sales Order", filters={"docstatus": 0}, pluck="name", order_by="name")[0]
    frappe.delete_doc("Sales Order", draft_so)
    customer = frappe.get_doc({"doctype": "Customer", "customer_name": "Walk-in Once", "customer_group": "Commercial",
                               "territory": "United States"}).insert().name
    frappe.delete_doc("Customer", customer)
    frappe.db.commit()
    say("deletions: an item with its bins, a draft sales order, a customer")
    return {"deleted_item": doomed, "deleted_bins": bins, "deleted_sales_order": draft_so, "deleted_customer": customer}


def make() -> None:
    connect()
    rng = random.Random(17)
    setup_wizard()
    facts = {"users": make_users()}
    facts["warehouses"] = warehouses = make_warehouses()
    make_custom_field()
    items = make_items(rng, warehouses)
    facts["items"] = {k: v for k, v in items.items() if k != "codes"}
    parties = make_parties(rng)
    facts.update(make_transactions(rng, items, parties, warehouses))
    facts["other_doctypes"] = make_other_doctypes()
    facts.update(make_deletions(items, parties, warehouses))
    facts["company"], facts["abbr"], facts["time_zone"] = COMPANY, ABBR, TIME_ZONE
    counts = {dt: frappe.db.count(dt) for dt in ("Item", "Item Reorder", "Bin", "Warehouse", "Supplier", "Customer", "Sales Order",
                                                  "Purchase Order", "Stock Entry", "Delivery Note", "Sales Invoice", "Purchase Receipt",
                                                  "Payment Entry", "GL Entry", "Stock Ledger Entry", "Deleted Document")}
    facts["counts"] = counts
    facts["frappe_version"], facts["erpnext_version"] = frappe.__version__, frappe.get_attr("erpnext.__version__")
    out = Path(os.environ.get("REAL_FRAPPE_OUT", "../data.json"))
    out.write_text(json.dumps(facts, indent=1, default=str, ensure_ascii=False))
    out.chmod(0o600)
    say(f"done: {counts}")
    frappe.destroy()


def exec_snippet() -> None:
    """Run the Python on stdin inside the site (as Administrator unless it sets a user); print json of `result`."""
    connect()
    scope = {**globals(), "frappe": frappe, "result": None}
    exec(compile(sys.stdin.read(), "<snippet>", "exec"), scope)
    frappe.db.commit()
    sys.stdout.write("\n@@RESULT@@" + json.dumps(scope["result"], default=str, ensure_ascii=False) + "\n")
    frappe.destroy()


if __name__ == "__main__":
    {"make": make, "exec": exec_snippet}[sys.argv[1]]()

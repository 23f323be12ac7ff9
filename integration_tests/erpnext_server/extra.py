"""More of a real ERPNext site than the eight streams' tables: the other child tables of those DocTypes (ERPNext 15's
own child DocType names and fields, a subset of the columns), DocTypes the catalog must list or leave out (another
submittable DocType, singles, virtual ones, ones the API user may not read), and on request a few hundred synthetic
DocTypes, so that discover can be measured on a catalog of a real site's size. Rows come from their own random
generator: the data drawn before them is what it was before they existed."""
import random

SB = "Section Break"


def _f(fieldname, fieldtype, options=None, **kw):
    d = {"fieldname": fieldname, "fieldtype": fieldtype, "label": fieldname.replace("_", " ").title()}
    if options:
        d["options"] = options
    d.update(kw)
    return d


# Child DocTypes of ERPNext 15 (erpnext/*/doctype/<name>/<name>.json), with some of their fields.
CHILD_DOCTYPES = {
    "Item Barcode": ("Stock", [_f("barcode", "Data"), _f("barcode_type", "Select", "\nEAN\nUPC-A\nCODE-128"),
                               _f("uom", "Link", "UOM")]),
    "UOM Conversion Detail": ("Stock", [_f("uom", "Link", "UOM"), _f("conversion_factor", "Float")]),
    "Item Variant Attribute": ("Stock", [_f("variant_of", "Link", "Item"), _f("attribute", "Link", "Item Attribute"),
                                         _f("attribute_value", "Data"), _f("numeric_values", "Check"),
                                         _f("disabled", "Check")]),
    "Item Default": ("Stock", [_f("company", "Link", "Company"), _f("default_warehouse", "Link", "Warehouse"),
                               _f("default_price_list", "Link", "Price List"),
                               _f("default_supplier", "Link", "Supplier"), _f("expense_account", "Link", "Account"),
                               _f("income_account", "Link", "Account")]),
    "Item Supplier": ("Stock", [_f("supplier", "Link", "Supplier"), _f("supplier_part_no", "Data")]),
    "Item Customer Detail": ("Stock", [_f("customer_name", "Link", "Customer"),
                                       _f("customer_group", "Link", "Customer Group"), _f("ref_code", "Data")]),
    "Item Tax": ("Stock", [_f("item_tax_template", "Link", "Item Tax Template"),
                           _f("tax_category", "Link", "Tax Category"), _f("valid_from", "Date"),
                           _f("minimum_net_rate", "Float"), _f("maximum_net_rate", "Float")]),
    "Pricing Rule Detail": ("Accounts", [_f("pricing_rule", "Link", "Pricing Rule"), _f("item_code", "Data"),
                                         _f("margin_type", "Data"), _f("rate_or_discount", "Data"),
                                         _f("child_docname", "Data"), _f("rule_applied", "Check")]),
    "Sales Taxes and Charges": ("Accounts", [
        _f("charge_type", "Select", "\nActual\nOn Net Total\nOn Previous Row Amount"), _f("row_id", "Data"),
        _f("account_head", "Link", "Account"), _f("cost_center", "Link", "Cost Center"),
        _f("description", "Small Text"), _f("included_in_print_rate", "Check"), _f("rate", "Float"),
        _f("tax_amount", "Currency"), _f("total", "Currency")]),
    "Purchase Taxes and Charges": ("Accounts", [
        _f("category", "Select", "Valuation and Total\nValuation\nTotal"), _f("add_deduct_tax", "Select", "Add\nDeduct"),
        _f("charge_type", "Select", "\nActual\nOn Net Total\nOn Previous Row Amount"),
        _f("account_head", "Link", "Account"), _f("description", "Small Text"), _f("rate", "Float"),
        _f("tax_amount", "Currency"), _f("total", "Currency")]),
    "Packed Item": ("Stock", [_f("parent_item", "Link", "Item"), _f("item_code", "Link", "Item"),
                              _f("item_name", "Data"), _f("warehouse", "Link", "Warehouse"), _f("qty", "Float"),
                              _f("uom", "Link", "UOM"), _f("parent_detail_docname", "Data")]),
    "Payment Schedule": ("Accounts", [_f("payment_term", "Link", "Payment Term"), _f("due_date", "Date"),
                                      _f("invoice_portion", "Percent"), _f("payment_amount", "Currency"),
                                      _f("outstanding", "Currency"), _f("credit_days", "Int")]),
    "Sales Team": ("Selling", [_f("sales_person", "Link", "Sales Person"), _f("contact_no", "Data"),
                               _f("allocated_percentage", "Float"), _f("allocated_amount", "Currency"),
                               _f("commission_rate", "Data"), _f("incentives", "Currency")]),
    "Purchase Order Item Supplied": ("Buying", [
        _f("main_item_code", "Link", "Item"), _f("rm_item_code", "Link", "Item"), _f("required_qty", "Float"),
        _f("rate", "Currency"), _f("amount", "Currency"), _f("reserve_warehouse", "Link", "Warehouse")]),
    "Landed Cost Taxes and Charges": ("Stock", [_f("description", "Small Text"), _f("amount", "Currency"),
                                                _f("expense_account", "Link", "Account"),
                                                _f("exchange_rate", "Float"), _f("base_amount", "Currency")]),
    "Allowed To Transact With": ("Accounts", [_f("company", "Link", "Company")]),
    "Party Account": ("Accounts", [_f("company", "Link", "Company"), _f("account", "Link", "Account"),
                                   _f("advance_account", "Link", "Account")]),
    "Customer Credit Limit": ("Selling", [_f("credit_limit", "Currency"), _f("company", "Link", "Company"),
                                          _f("bypass_credit_limit_check", "Check")]),
    "Portal User": ("Core", [_f("user", "Link", "User")]),
    "Sales Invoice Item": ("Accounts", [_f("item_code", "Link", "Item"), _f("qty", "Float"), _f("rate", "Currency"),
                                        _f("amount", "Currency"), _f("sales_order", "Link", "Sales Order")]),
}

# The child tables each DocType has besides those data.DOCTYPES gives it (ERPNext 15's table fields):
# parent -> [(fieldname, child DocType, (rows per parent to draw from))].
MORE_TABLES = {
    "Item": [("barcodes", "Item Barcode", (0, 0, 1, 2)), ("uoms", "UOM Conversion Detail", (1, 1, 2)),
             ("attributes", "Item Variant Attribute", (0, 0, 0, 0, 2)), ("item_defaults", "Item Default", (1,)),
             ("supplier_items", "Item Supplier", (0, 0, 0, 1)),
             ("customer_items", "Item Customer Detail", (0, 0, 0, 0, 1)), ("taxes", "Item Tax", (0, 0, 0, 1))],
    "Sales Order": [("pricing_rules", "Pricing Rule Detail", (0, 0, 0, 1)), ("taxes", "Sales Taxes and Charges", (1, 2)),
                    ("packed_items", "Packed Item", (0, 0, 0, 0, 2)), ("payment_schedule", "Payment Schedule", (1, 1, 2)),
                    ("sales_team", "Sales Team", (0, 1))],
    "Purchase Order": [("pricing_rules", "Pricing Rule Detail", (0, 0, 0, 1)),
                       ("supplied_items", "Purchase Order Item Supplied", (0, 0, 0, 0, 3)),
                       ("taxes", "Purchase Taxes and Charges", (1, 2)), ("payment_schedule", "Payment Schedule", (1,))],
    "Stock Entry": [("additional_costs", "Landed Cost Taxes and Charges", (0, 0, 0, 1))],
    "Customer": [("companies", "Allowed To Transact With", (0, 0, 1)), ("accounts", "Party Account", (1, 1, 2)),
                 ("sales_team", "Sales Team", (0, 1)), ("credit_limits", "Customer Credit Limit", (0, 0, 1)),
                 ("portal_users", "Portal User", (0, 0, 0, 1))],
    "Supplier": [("companies", "Allowed To Transact With", (0, 0, 1)), ("accounts", "Party Account", (1, 1, 2)),
                 ("portal_users", "Portal User", (0, 0, 0, 1))],
}

# DocTypes that are not streams' own: (module, flags, fields). The catalog lists them, but for the singles, the virtual
# DocTypes and those UNREADABLE names. Sales Invoice is data.py's (with invoices of its own); MORE_ROWS are its tables.
MORE_DOCTYPES = {
    "Employee": ("Setup", {}, [_f("employee_name", "Data"), _f("company", "Link", "Company"),
                               _f("status", "Select", "Active\nInactive\nLeft")]),
    "Journal Entry": ("Accounts", {"is_submittable": 1}, [_f("posting_date", "Date"), _f("company", "Link", "Company"),
                                                          _f("total_debit", "Currency")]),
    "Stock Settings": ("Stock", {"issingle": 1}, [_f("item_naming_by", "Select", "Item Code\nNaming Series"),
                                                  _f("default_warehouse", "Link", "Warehouse")]),
    "System Settings": ("Core", {"issingle": 1}, [_f("time_zone", "Data"), _f("country", "Link", "Country")]),
    "RQ Job": ("Core", {"is_virtual": 1}, [_f("job_name", "Data"), _f("status", "Select", "queued\nstarted")]),
}
UNREADABLE = {"Employee", "Journal Entry"}  # the API user has no role with Read on these
MORE_ROWS = {"Sales Invoice": [("items", "Sales Invoice Item", (1, 2, 3)), ("taxes", "Sales Taxes and Charges", (1,)),
                               ("payment_schedule", "Payment Schedule", (1,))]}


def synthetic_doctypes(count):
    """`count` DocTypes as a custom app would add them, named 'Synthetic 0001'...: every 4th submittable with a
    company, every 3rd with `disabled`, every 5th with a child table, every 9th single, every 10th the API user may
    not read, every 17th virtual. Returns (doctypes, unreadable names)."""
    doctypes, unreadable = {}, set()
    for i in range(1, count + 1):
        name = f"Synthetic {i:04d}"
        fields = [_f("title", "Data"), _f("amount", "Currency"), _f("quantity", "Int"), _f("due_on", "Date"),
                  _f("notes", "Small Text"), _f("details", SB), _f("status", "Select", "Open\nClosed")]
        flags = {}
        if i % 4 == 0:
            flags["is_submittable"] = 1
            fields.append(_f("company", "Link", "Company"))
        if i % 3 == 0:
            fields.append(_f("disabled", "Check"))
        if i % 5 == 0:
            fields.append(_f("lines", "Table", f"{name} Line"))
            doctypes[f"{name} Line"] = ("Custom", {"istable": 1}, [_f("description", "Data"), _f("qty", "Float")])
        if i % 9 == 0:
            flags["issingle"] = 1
        elif i % 17 == 0:
            flags["is_virtual"] = 1
        if i % 10 == 0:
            unreadable.add(name)
        doctypes[name] = ("Custom", flags, fields)
    return doctypes, unreadable


def _value(rng, field, parent):
    ft, name = field["fieldtype"], field["fieldname"]
    if ft in ("Check",):
        return rng.choice((0, 0, 1))
    if ft in ("Int",):
        return rng.randint(0, 90)
    if ft in ("Float", "Currency", "Percent"):
        return round(rng.uniform(0, 1000), 2)
    if ft == "Date":
        return (parent.get("creation") or "2024-01-01")[:10]
    if ft == "Select":
        return rng.choice([o for o in field.get("options", "").split("\n") if o] or [None])
    if ft == "Link" and field.get("options") == "Company":
        return parent.get("company") or "Test Company"
    return f"{name.replace('_', ' ').title()} {rng.randint(1, 999)}"


def generate_rows(conn, columns, hashname, seed, tables, doctypes):
    """Child rows for every parent row of `tables` (parent -> [(fieldname, child, counts)]), inserted in `conn`. A
    child row's modified is its parent's (Frappe sets it when the parent is saved)."""
    rng = random.Random(seed * 7 + 3)
    for parent_dt, parent_tables in tables.items():
        cur = conn.execute(f'SELECT * FROM "{parent_dt}" ORDER BY name')
        keys = [d[0] for d in cur.description]
        parents = [dict(zip(keys, row)) for row in cur.fetchall()]
        for fieldname, child, counts in parent_tables:
            cols = list(columns(child))
            rows = []
            for parent in parents:
                for idx in range(1, rng.choice(counts) + 1):
                    row = {"name": hashname(), "creation": parent["creation"], "modified": parent["modified"],
                           "modified_by": parent["modified_by"], "owner": parent["owner"],
                           "docstatus": parent["docstatus"], "idx": idx, "parent": parent["name"],
                           "parentfield": fieldname, "parenttype": parent_dt}
                    for field in doctypes[child][2]:
                        row.setdefault(field["fieldname"], _value(rng, field, parent))
                    rows.append([row.get(c) for c in cols])
            if rows:
                conn.executemany(f'INSERT INTO "{child}" VALUES ({",".join("?" * len(cols))})', rows)


def generate_documents(conn, columns, seed, doctypes, per_doctype=3):
    """A few documents in each listable DocType of `doctypes` (no child tables, singles or virtual ones)."""
    rng = random.Random(seed * 11 + 5)
    for dt, (_, flags, fields) in doctypes.items():
        if flags.get("istable") or flags.get("issingle") or flags.get("is_virtual"):
            continue
        cols = list(columns(dt))
        rows = []
        for i in range(1, per_doctype + 1):
            stamp = f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} 10:00:0{i}.{rng.randint(100000, 999999)}"
            row = {"name": f"{dt[:3].upper()}-{i:05d}", "creation": stamp, "modified": stamp, "modified_by": "Administrator",
                   "owner": "Administrator", "docstatus": rng.choice((0, 1)) if flags.get("is_submittable") else 0, "idx": 0}
            for field in fields:
                if field["fieldtype"] not in ("Table", "Table MultiSelect", SB):
                    row[field["fieldname"]] = _value(rng, field, row)
            rows.append([row.get(c) for c in cols])
        conn.executemany(f'INSERT INTO "{dt}" VALUES ({",".join("?" * len(cols))})', rows)

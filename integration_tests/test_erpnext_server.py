import base64
import json
import subprocess
import sys

import requests

from integration_tests.erpnext_server import API_KEY, API_SECRET, LIMITED_API_KEY, LIMITED_API_SECRET
from integration_tests.erpnext_server.data import REORDER_CASES, REORDER_WAREHOUSES

AUTH = {"Authorization": f"token {API_KEY}:{API_SECRET}"}
LIMITED = {"Authorization": f"token {LIMITED_API_KEY}:{LIMITED_API_SECRET}"}


def get(srv, path, headers=AUTH, **params):
    params = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}
    return requests.get(srv.url + path, headers=headers, params=params, timeout=10)


def messages(body):
    return [json.loads(m)["message"] for m in json.loads(body["_server_messages"])]


def test_default_list_and_page_length(erpnext_server):
    r = get(erpnext_server, "/api/resource/Item")
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data) == 20 and set(data[0]) == {"name"}
    assert len(get(erpnext_server, "/api/resource/Item", limit=5).json()["data"]) == 5
    # 200 generated items and the fixed reorder cases
    assert len(get(erpnext_server, "/api/resource/Item", limit_page_length=0).json()["data"]) == 200 + len(REORDER_CASES)


def test_limit_alias_absent_in_v13(make_erpnext_server):
    srv = make_erpnext_server(items=50, frappe_version=13)
    assert len(get(srv, "/api/resource/Item", limit=5).json()["data"]) == 20


def test_star_fields_types_and_records(erpnext_server):
    rows = get(erpnext_server, "/api/resource/Item", fields=["*"], limit_page_length=0).json()["data"]
    expected = {r["name"]: r for r in erpnext_server.records("Item")}
    assert {r["name"]: r for r in rows} == expected
    row = rows[0]
    assert isinstance(row["disabled"], int) and isinstance(row["valuation_rate"], float)
    assert "custom_shelf_life_days" in row and "reorder_levels" not in row
    assert any(r["disabled"] == 1 for r in rows)


def test_tied_rows_come_back_in_varying_order(erpnext_server):
    items = erpnext_server.records("Item")
    counts = {}
    for it in items:
        counts[it["modified"]] = counts.get(it["modified"], 0) + 1
    tied = max(counts, key=counts.get)
    assert counts[tied] > 20
    orders = {tuple(r["name"] for r in get(erpnext_server, "/api/resource/Item", filters=[["modified", "=", tied]],
                                           order_by="modified asc", limit_page_length=0).json()["data"])
              for _ in range(5)}
    assert len(orders) > 1


def test_keyset_order_is_stable(erpnext_server):
    args = dict(fields=["name", "modified"], order_by="modified asc, name asc", limit_page_length=0)
    first = get(erpnext_server, "/api/resource/Item", **args).json()["data"]
    assert first == get(erpnext_server, "/api/resource/Item", **args).json()["data"]
    # keyset paging with filters + or_filters visits every row exactly once
    seen, cursor = [], None
    while True:
        p = dict(fields=["name", "modified"], order_by="modified asc, name asc", limit_page_length=7)
        if cursor:
            p["filters"] = [["modified", ">=", cursor[0]]]
            p["or_filters"] = [["modified", ">", cursor[0]], ["name", ">", cursor[1]]]
        page = get(erpnext_server, "/api/resource/Item", **p).json()["data"]
        if not page:
            break
        seen += [r["name"] for r in page]
        cursor = (page[-1]["modified"], page[-1]["name"])
    assert seen == [r["name"] for r in first]


def test_filter_forms_and_operators(erpnext_server):
    items = erpnext_server.records("Item")

    def names(**kw):
        return sorted(r["name"] for r in get(erpnext_server, "/api/resource/Item", limit_page_length=0, **kw)
                      .json()["data"])

    disabled = sorted(i["name"] for i in items if i["disabled"] == 1)
    assert names(filters={"disabled": 1}) == disabled
    assert names(filters=[["disabled", "=", 1]]) == disabled
    assert names(filters=[["Item", "disabled", "=", 1]]) == disabled
    assert names(filters={"disabled": ["!=", 0]}) == disabled
    assert names(filters=[["name", "in", ["ITEM-000001", "ITEM-000002"]]]) == ["ITEM-000001", "ITEM-000002"]
    assert names(filters=[["name", "in", "ITEM-000001,ITEM-000003"]]) == ["ITEM-000001", "ITEM-000003"]
    assert names(filters=[["name", "like", "ITEM-00001%"]]) == [f"ITEM-0000{i}" for i in range(10, 20)]
    assert names(filters=[["name", "=", "item-000005"]]) == ["ITEM-000005"]  # case-insensitive collation
    assert len(names(filters=[["name", "not in", ["ITEM-000001"]]])) == 199 + len(REORDER_CASES)
    assert names(filters=[["valuation_rate", ">", 400]]) == sorted(i["name"] for i in items if i["valuation_rate"] > 400)
    m = sorted(i["modified"] for i in items)[100]
    assert names(filters=[["modified", "between", ["2024-01-01", m[:10]]]]) == sorted(
        i["name"] for i in items if i["modified"][:10] <= m[:10])
    assert names(filters=[["modified", "<=", m]]) == sorted(i["name"] for i in items if i["modified"] <= m)
    assert names(or_filters=[["name", "=", "ITEM-000001"], ["name", "=", "ITEM-000002"]]) == ["ITEM-000001",
                                                                                            "ITEM-000002"]
    assert len(names(filters=[["custom_shelf_life_days", "is", "set"]])) == sum(
        1 for i in items if i["custom_shelf_life_days"])
    # second-resolution datetime equals the DATETIME(6) value with .000000
    r = get(erpnext_server, "/api/resource/Warehouse", filters=[["modified", "<", "2024-01-01 00:00:00"]])
    assert len(r.json()["data"]) == 8 + len(REORDER_WAREHOUSES)


def test_child_table_requires_parent(erpnext_server):
    r = get(erpnext_server, "/api/resource/Sales Order Item")
    assert r.status_code == 403
    assert r.json()["exc_type"] == "PermissionError"
    r = get(erpnext_server, "/api/resource/Sales Order Item", parent="Purchase Order")
    assert r.status_code == 403
    r = get(erpnext_server, "/api/resource/Sales Order Item", parent="Sales Order", fields=["*"])
    assert r.status_code == 200
    row = r.json()["data"][0]
    assert row["parenttype"] == "Sales Order" and row["parentfield"] == "items"
    doc = get(erpnext_server, f"/api/resource/Sales Order/{row['parent']}").json()["data"]
    assert any(i["name"] == row["name"] for i in doc["items"])
    # a filter on the child DocType (4-value form) selects parents having such a row
    r = get(erpnext_server, "/api/resource/Sales Order", limit_page_length=0,
            filters=[["Sales Order Item", "item_code", "=", row["item_code"]]])
    assert row["parent"] in {d["name"] for d in r.json()["data"]}
    r = get(erpnext_server, "/api/resource/Sales Order Item", headers=LIMITED, parent="Sales Order")
    assert r.status_code == 403


def test_error_bodies(erpnext_server):
    r = get(erpnext_server, "/api/resource/Item", headers={"Authorization": f"token {API_KEY}:wrong"})
    assert r.status_code == 401 and r.json()["exc_type"] == "AuthenticationError"
    r = get(erpnext_server, "/api/resource/Item", headers={"Authorization": "token unknown:wrong"})
    assert r.status_code == 401 and "Password not found" in messages(r.json())[0]
    r = get(erpnext_server, "/api/resource/Item", headers={})
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
    assert "Guest" in messages(r.json())[0]
    r = get(erpnext_server, "/api/method/frappe.auth.get_logged_user", headers={})
    assert r.status_code == 403
    r = get(erpnext_server, "/api/resource/Sales Order", headers=LIMITED)
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
    assert get(erpnext_server, "/api/resource/Supplier", headers=LIMITED).status_code == 200
    r = get(erpnext_server, "/api/resource/Item/ITEM-999999")
    assert r.status_code == 404 and r.json()["exc_type"] == "DoesNotExistError"
    assert messages(r.json()) == ["Item ITEM-999999 not found"]
    assert get(erpnext_server, "/api/resource/No Such DocType").status_code == 404
    assert get(erpnext_server, "/api/nothing/here").status_code == 404
    r = get(erpnext_server, "/api/resource/Item", filters=[["name", "~", "x"]])
    assert r.status_code == 417 and r.json()["exc_type"] == "ValidationError"
    assert messages(r.json())[0].startswith("Operator must be one of")
    r = get(erpnext_server, "/api/resource/Item", order_by="name; drop table x")
    assert r.status_code == 417 and messages(r.json()) == ["Illegal SQL Query"]
    r = get(erpnext_server, "/api/resource/Item", filters="[[not json")
    assert r.status_code == 500 and r.json()["exc_type"] == "JSONDecodeError"
    r = get(erpnext_server, "/api/resource/Item", filters=[["nope", "=", 1]])
    assert r.status_code == 500 and r.json()["exc_type"] == "OperationalError"


def test_unknown_field_differs_by_version(make_erpnext_server, erpnext_server):
    r = get(erpnext_server, "/api/resource/Item", fields=["name", "nope"], limit=1)
    assert r.status_code == 200 and set(r.json()["data"][0]) == {"name"}
    srv = make_erpnext_server(items=20, frappe_version=14)
    r = get(srv, "/api/resource/Item", fields=["name", "nope"])
    assert r.status_code == 500 and "Unknown column" in r.json()["exception"]


def test_auth_forms_and_methods(erpnext_server):
    basic = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()}
    for h in (AUTH, basic):
        assert get(erpnext_server, "/api/method/frappe.auth.get_logged_user", headers=h).json() == {
            "message": "api-reader@example.com"}
    r = get(erpnext_server, "/api/method/frappe.client.get_count", doctype="Item", filters=[["disabled", "=", 1]])
    assert r.json()["message"] == sum(1 for i in erpnext_server.records("Item") if i["disabled"])
    docs = get(erpnext_server, "/api/method/frappe.desk.form.load.getdoctype", doctype="Item").json()["docs"]
    assert [d["name"] for d in docs] == ["Item", "Item Reorder", "Item Barcode", "UOM Conversion Detail", "Item Variant Attribute",
                                         "Item Default", "Item Supplier", "Item Customer Detail", "Item Tax"]
    ftypes = {f["fieldname"]: f["fieldtype"] for f in docs[0]["fields"]}
    assert ftypes["custom_shelf_life_days"] == "Int" and "Section Break" in ftypes.values()
    dt = get(erpnext_server, "/api/resource/DocType/Item").json()["data"]
    assert "custom_shelf_life_days" not in {f["fieldname"] for f in dt["fields"]}
    cf = get(erpnext_server, "/api/resource/Custom Field", filters={"dt": "Item"}, fields=["fieldname"]).json()
    assert cf["data"] == [{"fieldname": "custom_shelf_life_days"}]
    v = get(erpnext_server, "/api/method/frappe.utils.change_log.get_versions").json()["message"]
    assert v["frappe"]["version"].startswith("15.")


def test_edit_and_delete(make_erpnext_server):
    srv = make_erpnext_server(items=30)
    last_before = get(srv, "/api/resource/Item", order_by="modified desc", limit=1).json()["data"][0]["name"]
    new_mod = srv.edit("Item", "ITEM-000003", item_name="Renamed")
    top = get(srv, "/api/resource/Item", fields=["name", "modified", "item_name"], limit=1).json()["data"][0]
    assert top == {"name": "ITEM-000003", "modified": new_mod, "item_name": "Renamed"}
    assert last_before != "ITEM-000003"
    so = srv.records("Sales Order")[0]["name"]
    row = srv.delete("Sales Order", so)
    assert get(srv, f"/api/resource/Sales Order/{so}").status_code == 404
    dd = get(srv, "/api/resource/Deleted Document", filters=[["deleted_doctype", "=", "Sales Order"]],
             fields=["name", "deleted_name", "data"]).json()["data"]
    assert [d["deleted_name"] for d in dd] == [so] and dd[0]["name"] == row["name"]
    assert json.loads(dd[0]["data"])["items"]
    assert not get(srv, "/api/resource/Sales Order Item", parent="Sales Order",
                   filters=[["parent", "=", so]]).json()["data"]
    srv.set_permission("Item", False)
    assert get(srv, "/api/resource/Item").status_code == 403


def test_mutate_every(make_erpnext_server):
    srv = make_erpnext_server(items=30)
    srv.mutate_every = 2
    for _ in range(6):
        get(srv, "/api/method/frappe.auth.get_logged_user")
    assert len(get(srv, "/api/resource/Deleted Document", limit=0).json()["data"]) == 3 + 1


def test_stats_and_non_get(make_erpnext_server):
    srv = make_erpnext_server(items=10)
    get(srv, "/api/resource/Sales Order")
    get(srv, "/api/resource/Sales Order")
    r = requests.post(srv.url + "/api/resource/Item", headers=AUTH, json={"item_code": "X"})
    assert r.status_code == 403 and r.json()["exc_type"] == "PermissionError"
    r = requests.delete(srv.url + "/api/resource/Item/ITEM-000001", headers=AUTH)
    assert r.status_code == 403
    assert get(srv, "/api/resource/Item/ITEM-000001").status_code == 200
    s = requests.get(srv.url + "/__test__/stats").json()
    assert s["requests"]["/api/resource/Sales Order"] == 2 and s["non_get"] == 2 and s["total"] == 5
    assert s == srv.stats()
    srv.reset_stats()
    assert srv.stats()["total"] == 0


def test_faults(make_erpnext_server):
    srv = make_erpnext_server(items=10, fault_rate=0.5, seed=3)
    seen = {}
    for _ in range(60):
        try:
            r = get(srv, "/api/method/frappe.auth.get_logged_user")
            seen.setdefault(r.status_code, r)
        except requests.exceptions.ChunkedEncodingError:  # the body was cut off half way, the connection closed
            seen.setdefault("cut", None)
    assert {200, 429, 502, 503, "cut"} <= set(seen)
    assert seen[429].headers["Retry-After"] == "1"
    assert "<center>nginx" in seen[502].text
    assert seen[503].json()["exc_type"] == "SessionStopped"
    assert srv.stats()["faults"] > 0


def test_414_and_max_page_length(make_erpnext_server):
    srv = make_erpnext_server(items=50, max_page_length=7)
    r = get(srv, "/api/resource/Item", filters=[["name", "in", ["ITEM-%06d" % i for i in range(800)]]])
    assert r.status_code == 414 and "414 Request-URI Too Large" in r.text
    assert len(get(srv, "/api/resource/Item", limit_page_length=0).json()["data"]) == 7


def test_cli_starts_and_stops(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "integration_tests.erpnext_server", "--port", "0", "--items", "10"],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("ERPNext test server on http://127.0.0.1:")
    url = line.split(" on ")[1].split(" ")[0]
    assert requests.get(url + "/api/method/frappe.auth.get_logged_user", headers=AUTH).status_code == 200
    p.terminate()
    assert p.wait(10) == 0

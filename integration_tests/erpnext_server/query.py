"""Frappe get_list arguments (fields/filters/or_filters/order_by/limit) -> parameterised SQLite SQL.

Follows frappe/model/db_query.py (DatabaseQuery.prepare_filter_condition, validate_order_by_and_group_by,
sanitize_fields) and frappe/utils get_filter, with MariaDB semantics emulated where SQLite differs.
"""
import json
import re
from datetime import date, datetime

from . import data

VALID_OPERATORS = ("=", "!=", ">", "<", ">=", "<=", "like", "not like", "in", "not in", "is", "between",
                   "descendants of", "ancestors of", "not descendants of", "not ancestors of", "timespan",
                   "previous", "next")
ORDER_GROUP_PATTERN = re.compile(r".*[^a-z0-9-_ ,`'\"\.\(\)].*")
FALLBACK_DATETIME = "0001-01-01 00:00:00.000000"


class FrappeError(Exception):
    """An error answered the way frappe.app.handle_exception + utils.response.report_error answer it."""

    def __init__(self, exc_type, status, message=None, exc_arg=None, error_message=None, log_messages=(),
                 module="frappe.exceptions", title=None):
        super().__init__(message or exc_arg or exc_type)
        self.exc_type, self.status, self.message, self.exc_arg = exc_type, status, message, exc_arg
        self.error_message, self.log_messages, self.module, self.title = error_message, list(log_messages), module, title

    @property
    def exception_line(self):  # last line of the traceback, as report_error puts into `exception`
        arg = self.message if self.message is not None else self.exc_arg
        return f"{self.module}.{self.exc_type}" + (f": {arg}" if arg else "")


def validation_error(msg, exc_type="ValidationError", status=417):
    return FrappeError(exc_type, status, message=msg)


def db_error(code, msg):  # what pymysql raises for a refused query: not a Frappe exception -> HTTP 500
    return FrappeError("OperationalError", 500, exc_arg=f"({code}, \"{msg}\")", module="pymysql.err")


def json_param(value, default=None):
    if value is None or value == "":
        return default
    if isinstance(value, (list, dict)):
        return value
    try:
        return json.loads(value)
    except ValueError as e:  # json.loads inside document_list / DatabaseQuery.execute: uncaught -> 500
        raise FrappeError("JSONDecodeError", 500, exc_arg=str(e), module="json.decoder")


def cint(v):
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return 0


def flt(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def norm_datetime(v, end_of_day=False):
    """A value compared to a DATETIME(6) column, the way MariaDB casts the string."""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    s = str(v).strip().replace("T", " ")
    m = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?$", s)
    if not m:
        return s
    y, mo, d, h, mi, se, us = m.groups()
    if h is None and end_of_day:
        h, mi, se, us = "23", "59", "59", "999999"
    return "%04d-%02d-%02d %02d:%02d:%02d.%s" % (int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(se or 0),
                                                 (us or "0").ljust(6, "0"))


def norm_date(v):
    s = str(v).strip()[:10]
    try:
        return date.fromisoformat(s).isoformat()
    except ValueError:
        return s


def parse_filters(doctype, filters):
    """frappe.utils.get_filter for every entry: -> [(doctype, fieldname, operator, value)]"""
    if not filters:
        return []
    out = []
    if isinstance(filters, dict):
        for key, value in filters.items():
            if isinstance(value, (list, tuple)) and value:
                out.append((doctype, key, value[0], value[1] if len(value) > 1 else None))
            else:
                out.append((doctype, key, "=", value))
    elif isinstance(filters, list):
        for f in filters:
            if isinstance(f, dict):
                out.extend(parse_filters(doctype, f))
            elif isinstance(f, (list, tuple)) and len(f) == 3:
                out.append((doctype, f[0], f[1], f[2]))
            elif isinstance(f, (list, tuple)) and len(f) >= 4:
                out.append((f[0], f[1], f[2], f[3]))
            elif isinstance(f, (list, tuple)) and len(f) == 2:
                out.append((doctype, f[0], "=", f[1]))
            else:
                raise validation_error(
                    f"Filter must have 4 values (doctype, fieldname, operator, value): {json.dumps(f)}")
    else:
        raise validation_error(f"Filter must be a tuple or list (in a list): {filters}")
    res = []
    for dt, field, op, value in out:
        op = (op or "=").strip() if isinstance(op, str) else op
        if not isinstance(op, str) or op.lower() not in VALID_OPERATORS:
            raise validation_error("Operator must be one of {0}".format(", ".join(VALID_OPERATORS)))
        res.append((dt or doctype, field, op.lower(), value))
    return res


def condition(doctype, f, params):
    """One filter -> SQL, mirroring DatabaseQuery.prepare_filter_condition (ifnull fallbacks included)."""
    fdt, field, op, value = f
    if fdt not in data.DOCTYPES:
        raise db_error(1146, f"Table '_site.tab{fdt}' doesn't exist")
    if fdt != doctype:  # child table filter: Frappe left-joins the child table
        if (doctype, ) not in [(p,) for p, _ in data.parent_of(fdt)]:
            raise db_error(1054, f"Unknown column 'tab{fdt}.{field}' in 'where clause'")
        inner = condition(fdt, (fdt, field, op, value), params)
        params.append(doctype)
        return f'"name" IN (SELECT parent FROM "{fdt}" WHERE {inner} AND parenttype = ?)'
    cols = data.columns(doctype)
    if field not in cols:
        raise db_error(1054, f"Unknown column 'tab{doctype}.{field}' in 'where clause'")
    ft = cols[field]
    col = f'"{field}"'
    is_dt = field in ("creation", "modified") or ft == "Datetime"
    numeric = ft in data.NUMERIC_INT + data.NUMERIC_FLOAT
    textual = not numeric and not is_dt and ft not in ("Date", "Time")
    can_be_null = field not in ("name", "modified", "creation") and not numeric
    fallback = FALLBACK_DATETIME if is_dt else ("0001-01-01" if ft == "Date" else "")

    if op in ("in", "not in"):
        values = value if isinstance(value, (list, tuple)) else ("" if value is None else str(value)).split(",")
        values = [("" if v is None else str(v)).strip() for v in values] or [""]
        if is_dt:
            values = [norm_datetime(v) for v in values]
        elif numeric:  # MariaDB casts the strings to numbers ('' -> 0)
            values = [flt(v) for v in values]
        if op == "in":
            can_be_null = can_be_null and (not values or any(v == "" for v in values))
        params.extend(values)
        expr = f"ifnull({col}, '')" if can_be_null else col
        coll = " COLLATE NOCASE" if textual else ""
        return f"{expr}{coll} {op} ({', '.join('?' * len(values))})"
    if op == "is":
        params.append(0 if numeric else "")  # MariaDB compares a number column with '' as with 0
        if value == "set":
            return f"{col} != ?"
        return f"({col} IS NULL OR {col} = ?)"
    if op == "between":
        lo, hi = (list(value) + [None, None])[:2] if isinstance(value, (list, tuple)) else (value, value)
        today = date.today().isoformat()
        if is_dt:
            params += [norm_datetime(lo or today), norm_datetime(hi or today, end_of_day=True)]
        elif ft == "Date":
            params += [norm_date(lo or today), norm_date(hi or today)]
        else:
            params += [lo, hi]
        return f"{col} BETWEEN ? AND ?"
    if op in ("like", "not like"):
        v = "" if value is None else str(value)
        params.append(v.replace("\\", "\\\\"))
        expr = col if (v and op == "like") else f"ifnull({col}, '')"
        return f"{expr} {op.upper()} ? ESCAPE '\\'"
    if op not in ("=", "!=", ">", "<", ">=", "<="):
        raise validation_error(f"Operator {op} is not supported by this test server")
    if is_dt:
        v = norm_datetime(value if value is not None else "")
        if op in (">", ">=", "<", "<=") and field in ("creation", "modified"):
            can_be_null = False
    elif ft == "Date":
        v = norm_date(value) if value else ""
    elif numeric:
        v = flt(value)
    else:
        v = "" if value is None else str(value)
    if op in (">", ">=") and (is_dt or ft == "Date"):
        can_be_null = False
    params.append(v)
    coll = " COLLATE NOCASE" if textual else ""
    if not can_be_null or (v and op == "="):
        return f"{col}{coll} {op} ?"
    if v == fallback and op == "=":
        params.append(v)
        return f"({col} IS NULL OR {col}{coll} = ?)"
    if v == fallback and op == "!=":
        return f"{col}{coll} != ?"
    return f"ifnull({col}, '{fallback}'){coll} {op} ?"


def parse_fields(doctype, fields, version):
    """-> [(sql expression, output key)]"""
    cols = data.columns(doctype)
    if not fields:
        fields = ["name"]
    if isinstance(fields, str):
        fields = ["*"] if fields == "*" else [f.strip() for f in fields.split(",")]
    out = []
    for raw in [f for f in fields if f]:
        if not isinstance(raw, str):
            raise validation_error(f"Invalid field: {raw}", "DataError")
        f = raw.strip()
        low = f.lower()
        if re.match(r"^(select|delete|update|drop|create)\s", low) or "@" in low or "/*" in low or \
                re.match(r"[0-9a-zA-Z]+\s*'", f) or re.match(r"[0-9a-zA-Z_]+\s*,", f):
            raise validation_error("Use of sub-query or function is restricted", "DataError")
        alias = None
        m = re.match(r"^(.*?)\s+as\s+[`'\"]?([\w ]+?)[`'\"]?$", f, flags=re.I)
        if m:
            f, alias = m.group(1).strip(), m.group(2)
        cm = re.match(r"^count\(\s*(distinct\s+)?(\*|[`\w. ]+)\s*\)$", f, flags=re.I)
        if cm:
            out.append((f"count({'DISTINCT ' if cm.group(1) else ''}"
                        f"{'*' if cm.group(2) == '*' else chr(34) + cm.group(2).split('.')[-1].strip('` ') + chr(34)})",
                        alias or f))
            continue
        if "(" in f:
            raise validation_error("Use of function {0} in field is restricted".format(f.split("(")[0].strip()),
                                   "DataError")
        name = f.replace("`", "")
        if name.startswith("tab") and "." in name:
            table, name = name.split(".", 1)
            if table[3:] != doctype:
                raise db_error(1054, f"Unknown column '{f}' in 'field list'")
        if name == "*":
            out.extend((f'"{c}"', c) for c in cols)
        elif name in cols:
            out.append((f'"{name}"', alias or name))
        elif version >= 15:
            continue  # apply_fieldlevel_read_permissions drops fields that are not permitted columns
        else:
            raise db_error(1054, f"Unknown column '{name}' in 'field list'")
    return out


def parse_order_by(doctype, order_by):
    """validate_order_by_and_group_by + the columns; default = DocType sort order."""
    cols = data.columns(doctype)
    if not order_by or order_by == "KEEP_DEFAULT_ORDERING":
        return [("modified", "desc")]
    low = order_by.lower()
    if "select" in low and "from" in low:
        raise validation_error("Cannot use sub-query in order by")
    if ORDER_GROUP_PATTERN.match(low):
        raise validation_error("Illegal SQL Query")
    terms = []
    for part in order_by.split(","):
        part = part.strip()
        if not part:
            raise db_error(1064, "You have an error in your SQL syntax")
        if "sleep" in part.split("(", 1)[0].lower():
            raise validation_error("Cannot use {0} in order/group by".format(part.split("(", 1)[0].strip().lower()))
        bits = part.split()
        direction = bits[1].lower() if len(bits) > 1 else "asc"
        if len(bits) > 2 or direction not in ("asc", "desc"):
            raise db_error(1064, "You have an error in your SQL syntax")
        field = bits[0].replace("`", "").replace('"', "")
        if "." in field:
            table, field = field.split(".", 1)
            if table.replace("tab", "", 1) != doctype:
                raise validation_error(f"Please select atleast 1 column from {table.replace('tab', '', 1)} to sort/group")
        if field not in cols:
            raise db_error(1054, f"Unknown column '{field}' in 'order clause'")
        terms.append((field, direction))
    return terms


def build_list_query(doctype, fields, filters, or_filters, order_by, limit_start, limit_page_length, version):
    sel = parse_fields(doctype, fields, version)
    params = []
    conds = [condition(doctype, f, params) for f in parse_filters(doctype, filters)]
    ors = [condition(doctype, f, params) for f in parse_filters(doctype, or_filters)]
    if ors:
        conds.append("(" + " or ".join(ors) + ")")
    order = parse_order_by(doctype, order_by)
    sql = f'SELECT {", ".join(e for e, _ in sel) or "NULL"} FROM "{doctype}"'
    if conds:
        sql += " WHERE " + " and ".join(conds)
    is_aggregate = len(sel) == 1 and sel[0][0].startswith("count(")
    if not is_aggregate:
        # MariaDB returns rows that tie on the ORDER BY key in no fixed order: so do we
        sql += " ORDER BY " + ", ".join(f'"{c}" {d}' for c, d in order) + ", random()"
    if limit_page_length:
        sql += f" LIMIT {int(limit_page_length)} OFFSET {max(0, int(limit_start))}"
    elif limit_start:
        sql += f" LIMIT -1 OFFSET {max(0, int(limit_start))}"
    return sql, params, [k for _, k in sel]

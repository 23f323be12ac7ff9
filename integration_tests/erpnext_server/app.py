"""ErpnextTestServer: the SQLite store plus an HTTP handler answering like frappe.api / frappe.app."""
import base64
import binascii
import contextlib
import json
import random
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from . import data
from .query import FrappeError, build_list_query, cint, json_param, validation_error

API_KEY, API_SECRET = "demo-api-key", "demo-api-secret"
LIMITED_API_KEY, LIMITED_API_SECRET = "limited-api-key", "limited-api-secret"
API_USER, LIMITED_USER = "api-reader@example.com", "limited-reader@example.com"
MAX_REQUEST_LINE = 8192  # nginx large_client_header_buffers 4 8k
GUNICORN_REQUEST_LINE = 4094  # behind nginx, gunicorn's default --limit-request-line (what production runs)
GUNICORN_PAGE = ("<html>\n  <head>\n    <title>Bad Request</title>\n  </head>\n  <body>\n    <h1><p>Bad Request</p></h1>\n"
                 "    {0}\n  </body>\n</html>\n")  # gunicorn.util.write_error
GUNICORN_500 = GUNICORN_PAGE.replace("Bad Request", "Internal Server Error").format("")

NGINX_PAGE = ("<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
              "<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n")
VERSIONS = {13: ("13.43.2", "13.41.1"), 14: ("14.62.4", "14.57.0"), 15: ("15.51.0", "15.45.3"),
            16: ("16.13.0", "16.12.0")}  # 16 answers as 15 does, but for the error bodies of database faults
FAULTS = (429, 502, 503, "cut")  # what --fault-rate answers by default; also "db", "query-timeout", 504
# Database faults, as the connector sees them: the last line of the traceback, exc_type, the frames above it, and
# whether the request is still Guest's (the database went away before the API key could be looked up).
DB_FAULTS = {
    "db": ("pymysql.err.OperationalError: (2003, \"Can't connect to MySQL server on '127.0.0.1' ([Errno 111] "
           "Connection refused)\")", "OperationalError",
           '  File "apps/frappe/frappe/app.py", line 107, in application\n    validate_auth()\n'
           '  File "apps/frappe/frappe/auth.py", line 573, in validate_auth\n'
           '    validate_auth_via_api_keys(authorization_header)\n'
           '  File "env/lib/python3.11/site-packages/pymysql/connections.py", line 716, in connect\n    raise exc\n', True),
    "query-timeout": ("frappe.exceptions.QueryTimeoutError: (1969, 'Query execution was interrupted "
                      "(max_statement_time exceeded)')", "QueryTimeoutError",
                      '  File "apps/frappe/frappe/app.py", line 120, in application\n'
                      '    response = frappe.api.handle(request)\n'
                      '  File "apps/frappe/frappe/database/database.py", line 300, in sql\n'
                      '    raise frappe.QueryTimeoutError(e) from e\n', False),
}


def _msg(message, version, raise_exception=True, title=None):
    """A frappe.msgprint/frappe.throw message_log entry."""
    out = {"message": message}
    if title:
        out["title"] = title
    if raise_exception:
        out["indicator"] = "red"
        out["raise_exception"] = 1
        if version >= 15:
            out["__frappe_exc_id"] = "%016x" % random.getrandbits(64)
    return out


class ErpnextTestServer:
    def __init__(self, items=200, seed=1, latency=0.0, fault_rate=0.0, frappe_version=15, port=0,
                 max_page_length=None, fault_kinds=FAULTS, synthetic_doctypes=0, time_zone="Asia/Kolkata"):
        self.items, self.seed, self.latency, self.fault_rate = items, seed, latency, fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self._outage = (0, 0, None)  # requests number first..last answer this fault: see outage()
        self.time_zone = time_zone  # System Settings' time_zone (Frappe's fallback is Asia/Kolkata)
        self.user_time_zones = {}  # a User's own Time Zone setting, which frappe.client.get_time_zone prefers
        self.frappe_version, self.port, self.max_page_length = int(frappe_version), port, max_page_length
        self.mutate_every = None
        # Frappe 16 indexes `modified` only for DocTypes sorted by it, or given one by `bench add-database-index`
        # (recorded as a Property Setter, readable by System Managers: here the API user, unless turned off).
        self.modified_indexes, self.property_setters_readable = set(), True
        self.request_log = None  # a list to get (path, query parameters) of every API request
        self.lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self._rng = random.Random(seed * 1000003 + 7)
        self._hash = data.HashNames(seed + 99991)
        synthetic, unreadable = data.add_synthetic_doctypes(synthetic_doctypes) if synthetic_doctypes else ([], set())
        self.served = set(data.BASE_DOCTYPES) | set(synthetic)  # the DocTypes this site has
        self.permissions = {API_USER: (self.served - data.UNREADABLE - unreadable) | {"System Settings"},
                            LIMITED_USER: {"Item", "Warehouse", "Supplier"}, "Guest": set()}
        t0 = time.perf_counter()
        self.conn = sqlite3.connect(":memory:", check_same_thread=False)
        doctypes = data.BASE_DOCTYPES + synthetic
        data.create_schema(self.conn, doctypes)
        self.conn.execute("BEGIN")
        self._last_modified = datetime.fromisoformat(data.generate(self.conn, items, seed, doctypes))
        self.conn.commit()
        data.create_indexes(self.conn, doctypes)
        self.conn.execute("ANALYZE")
        self.generation_seconds = time.perf_counter() - t0
        self.httpd = self.thread = None
        self.reset_stats()

    # ---- lifecycle ----
    def start(self):
        handler = type("Handler", (_Handler,), {"srv": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self):
        return self.start() if not self.httpd else self

    def __exit__(self, *exc):
        self.stop()

    # ---- stats ----
    def reset_stats(self):
        with self._stats_lock:
            self._requests, self._non_get, self._faults, self._total = {}, 0, 0, 0
            self._record_pages = {}  # list requests for whole documents (fields *) by path, child tables excluded
            self._longest_line = 0  # the longest request line received, refused ones included
            self._scans = {}  # Frappe 16: list and count requests a table without a `modified` index answers by a table scan
            self._in_flight = self._most_in_flight = 0  # API requests being answered at once (the stats' own excluded)

    def stats(self):
        with self._stats_lock:
            return {"requests": dict(self._requests), "record_pages": dict(self._record_pages), "non_get": self._non_get, "scans": dict(self._scans),
                    "longest_request_line": self._longest_line, "most_in_flight": self._most_in_flight,
                    "faults": self._faults, "total": self._total}

    @contextlib.contextmanager
    def in_flight(self):
        with self._stats_lock:
            self._in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._stats_lock:
                self._in_flight -= 1

    def count_scan(self, doctype, order_by, filters):
        """On Frappe 16, a request that sorts by `modified`, or (a count) bounds it, on a table without its index
        scans the whole table: MariaDB has no other way to answer it."""
        if self.frappe_version < 16 or doctype in self.modified_indexes:
            return
        if "modified" in (order_by or "") or (order_by is None and "modified" in json.dumps(filters or [])):
            with self._stats_lock:
                self._scans[doctype] = self._scans.get(doctype, 0) + 1

    def _count_record_page(self, path):
        with self._stats_lock:
            self._record_pages[path] = self._record_pages.get(path, 0) + 1

    def _count(self, path, method):
        with self._stats_lock:
            self._requests[path] = self._requests.get(path, 0) + 1
            self._total += 1
            if method != "GET":
                self._non_get += 1
            n = self._total
            fault = None
            first, last, kind = self._outage
            if first <= n <= last:
                fault = kind
            elif self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_kinds)
            self._faults += fault is not None
        return n, fault

    def outage(self, kind, requests, after=0):
        """The next `requests` API requests, once `after` more have been answered, answer the fault `kind` (a run of
        them, as while a database or the workers are down)."""
        with self._stats_lock:
            self._outage = (self._total + after + 1, self._total + after + requests, kind)

    # ---- data access for tests ----
    def _now(self):
        now = max(datetime.now(), self._last_modified + timedelta(microseconds=1))
        self._last_modified = now
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def records(self, doctype):
        with self.lock:
            cur = self.conn.execute(f'SELECT * FROM "{doctype}" ORDER BY modified, name')
            keys = [d[0] for d in cur.description]
            return [format_row(doctype, dict(zip(keys, r))) for r in cur.fetchall()]

    def edit(self, doctype, name, **changes):
        cols = data.columns(doctype)
        bad = [k for k in changes if k not in cols or k in ("name", "creation", "modified")]
        if bad:
            raise KeyError(f"cannot edit {bad} on {doctype}")
        with self.lock:
            modified = self._now()
            sets = dict(changes, modified=modified)
            cur = self.conn.execute(f'UPDATE "{doctype}" SET {", ".join(f"{chr(34)}{k}{chr(34)} = ?" for k in sets)} '
                                    f'WHERE name = ?', [*sets.values(), name])
            if not cur.rowcount:
                raise KeyError(f"{doctype} {name} not found")
            for _, child in data.child_tables(doctype):
                self.conn.execute(f'UPDATE "{child}" SET modified = ? WHERE parent = ? AND parenttype = ?',
                                  (modified, name, doctype))
            self.conn.commit()
        return format_value("Datetime", modified)

    def edit_at(self, doctype, name, modified, **changes):
        """An edit whose save carried `modified` (site-local wall time), e.g. one of a repeated hour when clocks fall
        back; child rows move with it as in edit()."""
        with self.lock:
            cur = self.conn.execute(f'UPDATE "{doctype}" SET modified = ? WHERE name = ?', (modified, name))
            if not cur.rowcount:
                raise KeyError(f"{doctype} {name} not found")
            for _, child in data.child_tables(doctype):
                self.conn.execute(f'UPDATE "{child}" SET modified = ? WHERE parent = ? AND parenttype = ?',
                                  (modified, name, doctype))
            for k, v in changes.items():
                self.conn.execute(f'UPDATE "{doctype}" SET "{k}" = ? WHERE name = ?', (v, name))
            self.conn.commit()

    def set_silently(self, doctype, name, **changes):
        """What db_set(..., update_modified=False) and frappe.db.sql updates do: the values change, `modified` stays."""
        cols = data.columns(doctype)
        bad = [k for k in changes if k not in cols or k in ("name", "creation", "modified")]
        if bad:
            raise KeyError(f"cannot set {bad} on {doctype}")
        with self.lock:
            cur = self.conn.execute(f'UPDATE "{doctype}" SET {", ".join(f"{chr(34)}{k}{chr(34)} = ?" for k in changes)} '
                                    f'WHERE name = ?', [*changes.values(), name])
            if not cur.rowcount:
                raise KeyError(f"{doctype} {name} not found")
            self.conn.commit()

    def update_invoice_status(self, today):
        """erpnext.controllers.accounts_controller.update_invoice_status (daily): submitted invoices with an
        outstanding amount, Unpaid% or Partly Paid%, past due become Overdue (or Overdue and Discounted) by one UPDATE
        that leaves `modified` alone. ERPNext compares the Payment Schedule's due dates; here an invoice's due_date
        stands for its single schedule row. Returns the names it changed."""
        changed = []
        with self.lock:
            for doctype in ("Sales Invoice", "Purchase Invoice"):
                where = ("docstatus = 1 AND outstanding_amount > 0 AND (status LIKE 'Unpaid%' OR status LIKE "
                         "'Partly Paid%') AND due_date < ?")
                names = [r[0] for r in self.conn.execute(f'SELECT name FROM "{doctype}" WHERE {where}', (str(today),))]
                self.conn.execute(f'UPDATE "{doctype}" SET status = CASE WHEN status LIKE \'%Discounted\' THEN '
                                  f'\'Overdue and Discounted\' ELSE \'Overdue\' END WHERE {where}', (str(today),))
                changed += [(doctype, n) for n in names]
            self.conn.commit()
        return changed

    def delete(self, doctype, name, user="Administrator"):
        with self.lock:
            doc = self._get_doc(doctype, name)
            if doc is None:
                raise KeyError(f"{doctype} {name} not found")
            for _, child in data.child_tables(doctype):
                self.conn.execute(f'DELETE FROM "{child}" WHERE parent = ? AND parenttype = ?', (name, doctype))
            self.conn.execute(f'DELETE FROM "{doctype}" WHERE name = ?', (name,))
            now = self._now()
            row = {"name": self._hash(), "creation": now, "modified": now, "modified_by": user, "owner": user,
                   "docstatus": 0, "idx": 0, "deleted_name": name, "deleted_doctype": doctype, "restored": 0,
                   "new_name": None, "data": json.dumps(doc, indent=1, sort_keys=True, default=str)}
            cols = data.columns("Deleted Document")
            self.conn.execute(f'INSERT INTO "Deleted Document" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                              f'VALUES ({", ".join("?" * len(cols))})', [row.get(c) for c in cols])
            self.conn.commit()
        return format_row("Deleted Document", {c: row.get(c) for c in cols})

    def set_permission(self, doctype, read, user=None):
        user = user or API_USER
        with self.lock:
            (self.permissions[user].add if read else self.permissions[user].discard)(doctype)

    def _mutate(self, n):
        every = self.mutate_every
        if not every or n % every:
            return
        with self.lock:
            dt = self._rng.choice(data.MUTABLE_DOCTYPES)
            maxid = self.conn.execute(f'SELECT max(rowid) FROM "{dt}"').fetchone()[0] or 0
            row = self.conn.execute(f'SELECT name FROM "{dt}" WHERE rowid >= ? LIMIT 1',
                                    (self._rng.randint(1, max(1, maxid)),)).fetchone()
            if not row:
                return
            if n % (3 * every) == 0:
                self.delete(dt, row[0])
            else:
                self.edit(dt, row[0])

    def _get_doc(self, doctype, name):
        cur = self.conn.execute(f'SELECT * FROM "{doctype}" WHERE name = ?', (name,))
        r = cur.fetchone()
        if r is None:
            return None
        doc = format_row(doctype, dict(zip([d[0] for d in cur.description], r)))
        doc = {k: v for k, v in doc.items() if v is not None}  # as_dict(no_nulls=True)
        doc["doctype"] = doctype
        for fieldname, child in data.child_tables(doctype):
            cur = self.conn.execute(f'SELECT * FROM "{child}" WHERE parent = ? AND parenttype = ? '
                                    f'AND parentfield = ? ORDER BY idx', (name, doctype, fieldname))
            keys = [d[0] for d in cur.description]
            doc[fieldname] = [dict({k: v for k, v in format_row(child, dict(zip(keys, c))).items() if v is not None},
                                   doctype=child) for c in cur.fetchall()]
        return doc


def format_value(ft, v):
    if v is None:
        return None
    if ft == "Datetime" and isinstance(v, str) and v.endswith(".000000"):
        return v[:-7]  # str(datetime) omits zero microseconds
    if ft == "Time" and isinstance(v, str) and v.count(":") == 2:  # frappe.utils.format_timedelta: '2:09:6.837815'
        hours, minutes, seconds = v.split(":")
        whole, _, fraction = seconds.partition(".")
        return f"{int(hours)}:{minutes}:" + (f"{int(whole)}.{fraction}" if fraction.strip("0") else f"{int(whole):02d}")
    return v


def format_row(doctype, row):
    cols = data.columns(doctype)
    return {k: format_value(cols.get(k), v) for k, v in row.items()}


class _Handler(BaseHTTPRequestHandler):
    srv: ErpnextTestServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls
    server_version = "nginx/1.18.0"
    sys_version = ""

    def log_message(self, *args):
        pass

    def handle_one_request(self):
        # like BaseHTTPRequestHandler.handle_one_request, but with nginx's and gunicorn's request-line limits and their pages
        try:
            self.raw_requestline = self.rfile.readline(1 << 20)
            if not self.raw_requestline:
                self.close_connection = True
                return
            line = len(self.raw_requestline.rstrip(b"\r\n"))
            with self.srv._stats_lock:
                self.srv._longest_line = max(self.srv._longest_line, line)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", "GET"
                self._send(414, NGINX_PAGE.format("414 Request-URI Too Large"), "text/html", close=True)
                return
            if line > GUNICORN_REQUEST_LINE:  # gunicorn's LimitRequestLine, answered as gunicorn does
                self.requestline, self.request_version, self.command = "", "HTTP/1.1", "GET"
                message = f"Request Line is too large ({line} > {GUNICORN_REQUEST_LINE})"
                self._send(400, GUNICORN_PAGE.format(message), "text/html", close=True)
                return
            if not self.parse_request():
                return
            with self.srv.in_flight() if self.path.startswith("/api/") else contextlib.nullcontext():
                self.dispatch()
                self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _send(self, status, body, ctype="application/json", headers=(), close=False):
        payload = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype + "; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in headers:
            self.send_header(k, v)
        cut = getattr(self, "cut_body", False)  # a "cut" fault: the connection drops half way through the body
        self.cut_body = False
        if close or cut:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload[: len(payload) // 2] if cut else payload)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj, separators=(",", ":"), default=str))

    def dispatch(self):
        srv = self.srv
        length = cint(self.headers.get("Content-Length"))
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path == "/__test__/stats":
            return self._json(200, srv.stats())
        if not path.startswith("/api/"):
            return self._send(404, "<html><body><h1>Page Not Found</h1></body></html>", "text/html")
        n, fault = srv._count(path, self.command)
        if srv.latency:
            time.sleep(srv.latency)  # outside any lock: concurrent requests overlap
        if fault == 429:
            return self._send(429, "Too Many Requests", "text/html", [("Retry-After", "1")])
        if fault in (502, 504):
            return self._send(fault, NGINX_PAGE.format({502: "502 Bad Gateway", 504: "504 Gateway Time-out"}[fault]),
                              "text/html")
        if fault in DB_FAULTS:
            exception, exc_type, frames, as_guest = DB_FAULTS[fault]
            if self.srv.frappe_version >= 16 and as_guest:
                # Frappe 16.13 (app.py) rolls back in its error path, which needs the database too: that second error
                # escapes to gunicorn, whose own page is all the client gets (seen on real ERPNext 16.12, MariaDB killed).
                return self._send(500, GUNICORN_500, "text/html", close=True)
            return self._json(500, self._db_error_body(exception, exc_type, frames, as_guest))
        if fault == 503:
            return self._json(503, self._error_body(FrappeError("SessionStopped", 503, exc_arg="Session Stopped"),
                                                    API_USER))
        self.cut_body = fault == "cut"  # the answer is worked out as usual, then cut short in _send
        srv._mutate(n)
        form = dict(parse_qsl(url.query, keep_blank_values=True))
        if srv.request_log is not None:
            srv.request_log.append((path, dict(form)))
        if path.count("/") == 3 and path.startswith("/api/resource/") and '"*"' in form.get("fields", "") and "parent" not in form:
            srv._count_record_page(path)
        ctype = self.headers.get("Content-Type", "")
        if body and "json" in ctype:
            try:
                parsed = json.loads(body)
                if isinstance(parsed, dict):
                    form = {**form, **parsed}
            except ValueError:
                pass
        elif body and "form-urlencoded" in ctype:
            form = {**form, **dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))}
        user = "Guest"
        try:
            user = self._authenticate()
            status, result = Api(srv, user, self.command, form).route(path)
            self._json(status, result)
        except FrappeError as e:
            self._json(e.status, self._error_body(e, user))

    def _error_body(self, e, user):
        v = self.srv.frappe_version
        body = {}
        # report_error: `exception` only when tracebacks are allowed (v15: system users only), never for 404
        if e.status != 404 and (v < 15 or user != "Guest"):
            body["exception"] = e.exception_line
        body["exc_type"] = e.exc_type
        msgs = list(e.log_messages)
        if e.message is not None:
            msgs.append(_msg(e.message, v, title=e.title))
        if msgs:
            body["_server_messages"] = json.dumps([json.dumps(m) for m in msgs])
        if e.error_message:
            body["_error_message"] = e.error_message
        return body

    def _db_error_body(self, exception, exc_type, frames, as_guest):
        """A database error's 500 as frappe.app.handle_exception -> frappe.utils.response.report_error answers an
        /api/ request (API v1). The traceback comes with it when is_traceback_allowed(): Frappe 15 (15.103) needs only
        System Settings' allow_error_traceback (on by default); 16 (16.13) also a System User, which a request is not
        while it is still Guest's: then 16 sends exc_type alone."""
        if self.srv.frappe_version >= 16 and as_guest:  # (unreachable database: gunicorn's page instead, see above)
            return {"exc_type": exc_type}
        traceback = f"Traceback (most recent call last):\n{frames}{exception}\n"
        return {"exception": exception, "exc_type": exc_type, "exc": json.dumps([traceback])}

    def _authenticate(self):
        """frappe.api validate_auth / validate_auth_via_api_keys / validate_api_key_secret."""
        header = self.headers.get("Authorization", "").split(" ")
        if len(header) != 2:
            return "Guest"
        auth_type, token = header
        users = {API_KEY: (API_USER, API_SECRET), LIMITED_API_KEY: (LIMITED_USER, LIMITED_API_SECRET)}
        user = "Guest"
        try:
            if auth_type.lower() in ("basic", "token"):
                if auth_type.lower() == "basic":
                    token = base64.b64decode(token, validate=True).decode()
                key, secret = token.split(":")
                if key not in users:  # get_decrypted_password("User", None, "api_secret")
                    raise FrappeError("AuthenticationError", 401, message="Password not found for User None api_secret")
                if users[key][1] == secret:
                    user = users[key][0]
        except (binascii.Error, UnicodeDecodeError):
            raise FrappeError("InvalidAuthorizationToken", 401,
                              message="Failed to decode token, please provide a valid base64-encoded token.")
        except ValueError:
            pass
        if user == "Guest" and self.srv.frappe_version >= 14:
            raise FrappeError("AuthenticationError", 401)
        return user


class Api:
    def __init__(self, srv, user, method, form):
        self.srv, self.user, self.method, self.form = srv, user, method, form
        self.v = srv.frappe_version

    # ---- permission helpers ----
    def can_read(self, doctype):
        return doctype in self.srv.permissions.get(self.user, ())

    def _no_perm_log(self, doctype):
        return [_msg(f"User <strong>{self.user}</strong> does not have doctype access via role permission for "
                     f"document <strong>{doctype}</strong>", self.v, raise_exception=False)]

    def check_read(self, doctype, parent=None):
        if doctype not in self.srv.served:
            raise FrappeError("DoesNotExistError", 404, message=f"DocType {doctype} not found")
        perm_dt = parent or doctype
        if self.can_read(perm_dt):
            return
        if self.v >= 15:  # frappe.has_permission(..., throw=True)
            raise FrappeError("PermissionError", 403, log_messages=self._no_perm_log(perm_dt),
                              error_message=f"No permission for {doctype}")
        raise FrappeError("PermissionError", 403, exc_arg=doctype, log_messages=self._no_perm_log(perm_dt),
                          error_message=f"Insufficient Permission for <strong>{doctype}</strong>")

    def check_parent(self, parent, child):
        """check_parent_permission (frappe/client.py, v15: frappe/model/db_query.py): bare PermissionError."""
        if parent and (parent, child) in [(p, child) for p, _ in data.parent_of(child)] and self.can_read(parent):
            return
        raise FrappeError("PermissionError", 403)

    def whitelisted(self, method_path):
        if self.user == "Guest":  # frappe.handler.is_whitelisted: not in guest_methods
            if self.v >= 14:
                raise FrappeError("PermissionError", 403, title="Method Not Allowed", message=(
                    "<details><summary>You are not permitted to access this resource.</summary>Function "
                    f"<strong>{method_path}</strong> is not whitelisted.</details>"))
            raise FrappeError("PermissionError", 403, message="Not permitted")

    # ---- routing (frappe/api/v1.py url_rules) ----
    def route(self, path):
        parts = path[len("/api/"):].split("/", 3)
        if parts[0] == "method" and len(parts) > 1 and parts[1]:
            return 200, self.call_method("/".join(parts[1:]).split("/")[0])
        if parts[0] == "resource" and len(parts) >= 2 and parts[1]:
            doctype = parts[1]
            name = "/".join(parts[2:]).rstrip("/") if len(parts) > 2 else ""
            if self.method not in ("GET", "HEAD", "POST", "PUT", "DELETE"):
                raise FrappeError("MethodNotAllowed", 405, module="werkzeug.exceptions")
            if self.method in ("POST", "PUT", "DELETE"):
                return self.write_attempt(doctype, name)
            if name:
                return 200, {"data": self.read_doc(doctype, name)}
            return 200, {"data": self.document_list(doctype)}
        raise FrappeError("DoesNotExistError", 404)

    def write_attempt(self, doctype, name):
        """The API users have no create/write/delete permission: Document.raise_no_permission_to."""
        if doctype not in self.srv.served:
            raise FrappeError("DoesNotExistError", 404, message=f"DocType {doctype} not found")
        ptype = {"POST": "create", "PUT": "write", "DELETE": "delete"}[self.method]
        if name and self.method != "POST":
            with self.srv.lock:
                if self.srv._get_doc(doctype, name) is None:
                    raise FrappeError("DoesNotExistError", 404, message=f"{doctype} {name} not found")
        raise FrappeError("PermissionError", 403, log_messages=self._no_perm_log(doctype),
                          error_message=f"Insufficient Permission for {doctype} (<strong>{ptype}</strong>)")

    def document_list(self, doctype):
        if doctype == "Property Setter" and self.v >= 16:
            return self.property_setters()
        f = dict(self.form)
        if f.get("fields"):
            f["fields"] = json_param(f["fields"])
        if self.v >= 14:
            page = f.get("limit") or f.get("limit_page_length") or 20
            f.setdefault("limit_page_length", page)
        else:
            f.setdefault("limit_page_length", 20)
        return self.get_list(doctype, f)

    def get_list(self, doctype, f):
        """frappe.client.get_list -> frappe.get_list -> DatabaseQuery.execute"""
        if doctype in data.DOCTYPES and data.is_table(doctype):
            self.check_parent(f.get("parent"), doctype)
            self.check_read(doctype, parent=f.get("parent"))
        else:
            self.check_read(doctype)
        self.srv.count_scan(doctype, f.get("order_by"), None)
        page = cint(f.get("limit_page_length", 20))
        cap = self.srv.max_page_length
        if cap and (not page or page > cap):
            page = cap
        sql, params, keys = build_list_query(
            doctype, f.get("fields"), json_param(f.get("filters")), json_param(f.get("or_filters")),
            f.get("order_by"), cint(f.get("limit_start")), page, self.v)
        with self.srv.lock:
            rows = self.srv.conn.execute(sql, params).fetchall()
        cols = data.columns(doctype)
        fts = [cols.get(k) for k in keys]
        if str(f.get("as_dict", "1")).lower() in ("0", "false"):
            return [[format_value(ft, v) for ft, v in zip(fts, r)] for r in rows]
        return [{k: format_value(ft, v) for k, ft, v in zip(keys, fts, r)} for r in rows]

    def read_doc(self, doctype, name):
        if doctype not in self.srv.served:
            raise FrappeError("DoesNotExistError", 404, message=f"DocType {doctype} not found")
        if doctype == "DocType":
            self.check_read("DocType")
            return self.doctype_doc(name, custom=False)
        with self.srv.lock:
            doc = self.srv._get_doc(doctype, name)
        if doc is None:
            raise FrappeError("DoesNotExistError", 404, message=f"{doctype} {name} not found")
        if data.is_table(doctype) or not self.can_read(doctype):
            raise FrappeError("PermissionError", 403, log_messages=self._no_perm_log(doctype),
                              error_message=f"Insufficient Permission for {doctype} (<strong>read</strong>)")
        return doc

    def doctype_doc(self, doctype, custom):
        if doctype not in self.srv.served:
            raise FrappeError("DoesNotExistError", 404, message=f"DocType {doctype} not found")
        module, flags, _ = data.DOCTYPES[doctype]
        ts = "2023-08-19 10:00:00.000000"
        fields = []
        for i, fd in enumerate(data.meta_fields(doctype, custom=custom), 1):
            d = {"name": "%010x" % (abs(hash((doctype, fd["fieldname"]))) % (1 << 40)), "owner": "Administrator",
                 "creation": ts, "modified": ts, "modified_by": "Administrator", "docstatus": 0, "parent": doctype,
                 "parentfield": "fields", "parenttype": "DocType", "idx": i, "fieldname": fd["fieldname"],
                 "label": fd["label"], "fieldtype": fd["fieldtype"], "options": fd.get("options"),
                 "reqd": fd.get("reqd", 0), "read_only": fd.get("read_only", 0), "hidden": 0,
                 "unique": fd.get("unique", 0), "in_list_view": fd.get("in_list_view", 0), "permlevel": 0,
                 "doctype": "DocField"}
            if fd.get("is_custom_field"):
                d["is_custom_field"] = 1
            fields.append({k: v for k, v in d.items() if v is not None})
        return {"name": doctype, "owner": "Administrator", "creation": ts, "modified": ts,
                "modified_by": "Administrator", "docstatus": 0, "idx": 0, "module": module,
                "istable": flags.get("istable", 0), "issingle": flags.get("issingle", 0),
                "is_virtual": flags.get("is_virtual", 0), "is_submittable": flags.get("is_submittable", 0),
                "custom": 0, "sort_field": "creation" if self.v >= 16 else "modified", "sort_order": "DESC", "track_changes": 1,
                "doctype": "DocType", "fields": fields,
                "permissions": [] if flags.get("istable") else [
                    {"role": "System Manager", "permlevel": 0, "read": 1, "write": 1, "create": 1,
                     "delete": 1, "doctype": "DocPerm", "parent": doctype, "parentfield": "permissions",
                     "parenttype": "DocType", "idx": 1}]}

    def property_setters(self):
        """The search_index Property Setters `bench add-database-index` makes, for the filters the connector sends."""
        if not self.srv.property_setters_readable:
            raise FrappeError("PermissionError", 403, log_messages=self._no_perm_log("Property Setter"),
                              error_message="No permission for Property Setter")
        wanted = {f[0]: f[2] for f in json_param(self.form.get("filters"), [])}
        found = wanted.get("field_name") == "modified" and wanted.get("property") == "search_index" and wanted.get("doc_type") in self.srv.modified_indexes
        return [{"name": f"{wanted['doc_type']}-modified-search_index"}] if found else []

    # ---- whitelisted methods ----
    def call_method(self, cmd):
        methods = {
            "frappe.auth.get_logged_user": lambda: {"message": self.user},
            "frappe.client.get_count": self.get_count,
            "frappe.client.get_list": lambda: {"message": self.get_list(
                self.form.get("doctype", ""), dict(self.form, fields=json_param(self.form.get("fields"))))},
            "frappe.desk.form.load.getdoctype": self.getdoctype,
            "frappe.desk.search.search_widget": self.search_widget,
            "frappe.utils.change_log.get_versions": self.get_versions,
            "frappe.client.get_single_value": self.get_single_value,
        }
        if cmd == "frappe.client.get_time_zone":  # allow_guest: the session user's defaults over the system's
            return {"message": {"time_zone": self.srv.user_time_zones.get(self.user, self.srv.time_zone)}}
        if cmd not in methods:
            raise validation_error(f"Failed to get method for command {cmd} with No module named '{cmd}'")
        self.whitelisted(cmd)
        return methods[cmd]()

    def get_single_value(self):
        """frappe.client.get_single_value: frappe.has_permission(doctype) or 'No permission for ...'."""
        doctype, field = self.form.get("doctype", ""), self.form.get("field", "")
        if doctype != "System Settings":
            raise FrappeError("DoesNotExistError", 404, message=f"DocType {doctype} not found")
        if not self.can_read(doctype):
            raise FrappeError("PermissionError", 403, message=f"No permission for {doctype}")
        return {"message": {"time_zone": self.srv.time_zone}.get(field)}

    def get_count(self):
        doctype = self.form.get("doctype", "")
        if doctype in data.DOCTYPES and data.is_table(doctype):
            self.check_parent(self.form.get("parent"), doctype)
        self.check_read(doctype, parent=self.form.get("parent") if doctype in data.DOCTYPES and data.is_table(
            doctype) else None)
        self.srv.count_scan(doctype, None, json_param(self.form.get("filters")))
        sql, params, _ = build_list_query(doctype, ["count(*) as count"], json_param(self.form.get("filters")),
                                          json_param(self.form.get("or_filters")), None, 0, 0, self.v)
        with self.srv.lock:
            return {"message": self.srv.conn.execute(sql, params).fetchone()[0]}

    def getdoctype(self):
        """frappe.desk.form.load.getdoctype -> get_meta_bundle: merged meta + child metas. No permission check."""
        doctype = self.form.get("doctype", "")
        answer = {}
        parent = next((p for p in data.DOCTYPES if p in self.srv.served for _, child in data.child_tables(p) if child == doctype), None)
        if cint(self.form.get("with_parent")) and parent:  # get_parent_dt: the report builder's view of a child table
            answer["parent_dt"], doctype = parent, parent
        docs = [self.doctype_doc(doctype, custom=True)]
        docs += [self.doctype_doc(child, custom=True) for _, child in data.child_tables(doctype)]
        for d in docs:
            d["__last_sync_on"] = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        return {"docs": docs, "user_settings": "{}", **answer}

    def search_widget(self):
        """frappe.desk.search.search_widget: `name` and the filter_fields of the rows matching filters and txt, as lists
        (as_dict: dicts). On DocType, permissions are not checked (ignore_permissions = doctype == "DocType") and,
        DocType being a translated DocType, page_length is not applied: every match comes."""
        doctype = self.form.get("doctype", "")
        if doctype != "DocType":
            self.check_read(doctype)
        fields = ["name"] + [f for f in json_param(self.form.get("filter_fields"), []) if f != "name"]
        txt = (self.form.get("txt") or "").replace("%", "")
        or_filters = [[doctype, "name", "like", f"%{txt}%"]] if txt else None
        page = 0 if doctype == "DocType" else cint(self.form.get("page_length") or 10)
        sql, params, keys = build_list_query(doctype, fields, json_param(self.form.get("filters")), or_filters,
                                             "name asc", cint(self.form.get("start")) if page else 0, page, self.v)
        with self.srv.lock:
            rows = self.srv.conn.execute(sql, params).fetchall()
        if cint(self.form.get("as_dict")):
            return {"message": [dict(zip(keys, r)) for r in rows]}
        return {"message": [list(r) for r in rows]}

    def get_versions(self):
        fv, ev = VERSIONS.get(self.v, VERSIONS[15])
        branch = f"version-{self.v}"
        return {"message": {
            "erpnext": {"title": "ERPNext", "description": "ERP made simple", "branch": branch, "version": ev},
            "frappe": {"title": "Frappe Framework", "description": "Full stack web framework with Python, "
                       "Javascript, MariaDB, Redis, Node", "branch": branch, "version": fv}}}

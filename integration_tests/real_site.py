"""What the real-Frappe and real-ERPNext suites share: a real site (its configs, and Python run inside it) and the
installed connector run as Airbyte runs it (spec/check/discover/read with config, catalog and state files)."""

import json
import re
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import jsonschema
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type

SOURCE = Path(sys.executable).parent / "source-erpnext"
STREAMS = {
    "item": "Item",
    "bin": "Bin",
    "sales_order": "Sales Order",
    "supplier": "Supplier",
    "customer": "Customer",
    "purchase_order": "Purchase Order",
    "stock_entry": "Stock Entry",
    "warehouse": "Warehouse",
}
CHILD_TABLES = {
    "item": ("reorder_levels", "Item Reorder"),
    "sales_order": ("items", "Sales Order Item"),
    "purchase_order": ("items", "Purchase Order Item"),
    "stock_entry": ("items", "Stock Entry Detail"),
}
WITH_DISABLED = {"item", "supplier", "customer", "warehouse"}
WITH_COMPANY = {"sales_order", "purchase_order", "stock_entry", "warehouse"}
SUBMITTABLE = {"sales_order", "purchase_order", "stock_entry"}
DELETED_AT = "_ab_cdc_deleted_at"




@dataclass
class Site:
    version: str
    configs: Dict[str, Any]
    facts: Dict[str, Any] = field(default_factory=dict)
    data_script: Optional[Path] = None  # the site's in-process runner (scripts/real_*_data.py exec)

    @property
    def base_url(self) -> str:
        return self.configs["base_url"]

    def config(self, user: str = "api", **settings) -> Dict[str, Any]:
        return {**self.configs[user], **settings}

    def run(self, code: str, timeout: int = 300) -> Any:
        """Run Python inside the site (Frappe's own process, as Administrator), commit; return its `result`."""
        bench = Path(self.configs["bench"])
        env = {**os.environ, "REAL_FRAPPE_SITE": self.configs["site"], "PYTHONUNBUFFERED": "1"}
        done = subprocess.run([self.configs["python"], str(self.data_script), "exec"], input=code, cwd=bench / "sites", env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"snippet failed in the {self.version} site:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])



# -- the connector -------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    messages: List[AirbyteMessage]
    stdout: str
    stderr: str

    def records(self) -> Dict[str, List[dict]]:
        records = defaultdict(list)
        for m in self.messages:
            if m.type == Type.RECORD:
                records[m.record.stream].append(m.record.data)
        return records

    def errors(self) -> List[str]:
        return [m.trace.error.message for m in self.messages if m.type == Type.TRACE and m.trace.error is not None]

    def error_logs(self) -> List[str]:
        return [m.log.message for m in self.messages if m.type == Type.LOG and m.log.level.value in ("ERROR", "FATAL")]

    def states(self) -> Dict[str, dict]:
        """The last STATE of each stream, as an Airbyte state list entry."""
        states = {}
        for m in self.messages:
            if m.type == Type.STATE:
                entry = AirbyteMessageSerializer.dump(m)["state"]
                states[entry["stream"]["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": entry["stream"]}
        return states

    def why(self) -> str:
        """What went wrong, for an assertion message: error traces, error logs (shortened), the exit code."""
        logs = [e.splitlines()[0][:600] for e in self.error_logs() if e.strip() and not e.startswith("Encountered an exception")]
        lines = [f"exit code {self.returncode}"] + [f"TRACE: {e[:600]}" for e in self.errors()] + [f"LOG: {e}" for e in logs[:6]]
        if not self.messages:
            lines.append(self.stderr[-3000:])
        return "\n".join(lines)


class Connector:
    """The installed console script, run as Airbyte runs it: config, catalog and state as files."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.files = 0

    def _file(self, kind: str, value: Any) -> Path:
        self.files += 1
        path = self.tmp_path / f"{kind}-{self.files}.json"
        path.write_text(json.dumps(value))
        return path

    def run(self, *args: str, config: Dict[str, Any], catalog: Optional[dict] = None, state: Optional[list] = None, timeout: int = 900) -> Run:
        assert SOURCE.exists(), f"the console script {SOURCE} is not installed (pip install -e .)"
        cmd = [str(SOURCE), *args, "--config", str(self._file("config", config))]
        if catalog is not None:
            cmd += ["--catalog", str(self._file("catalog", catalog))]
        if state is not None:
            cmd += ["--state", str(self._file("state", state))]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        messages = [AirbyteMessageSerializer.load(json.loads(line)) for line in done.stdout.splitlines() if line.strip().startswith("{")]
        return Run(done.returncode, messages, done.stdout, done.stderr)

    def discover(self, config: Dict[str, Any]) -> Dict[str, dict]:
        result = self.run("discover", config=config)
        assert result.returncode == 0, result.why()
        catalogs = [m.catalog for m in result.messages if m.type == Type.CATALOG]
        assert len(catalogs) == 1, result.why()
        dumped = AirbyteMessageSerializer.dump(AirbyteMessage(type=Type.CATALOG, catalog=catalogs[0]))["catalog"]
        return {s["name"]: s for s in dumped["streams"]}

    def read(self, config: Dict[str, Any], streams: Optional[List[str]] = None, incremental: bool = False, state: Optional[list] = None) -> Run:
        """discover, then read the chosen streams (the eight standard ones by default: discover lists every DocType the
        user may read) with the discovered schemas."""
        discovered = self.discover(config)
        chosen = streams or list(STREAMS)
        catalog = {
            "streams": [
                {
                    "stream": discovered[name],
                    "sync_mode": "incremental" if incremental else "full_refresh",
                    "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                    **({"cursor_field": ["modified"]} if incremental else {}),
                    "primary_key": [["name"]],
                }
                for name in chosen
            ]
        }
        return self.run("read", config=config, catalog=catalog, state=state)


# -- the database, as the truth ------------------------------------------------------------------------------------------

EXPECTED_SNIPPET = """
import json
settings = json.loads({settings!r})
streams = json.loads({streams!r})
result = {{}}
for stream, spec in streams.items():
    doctype, child = spec["doctype"], spec.get("child")
    where, args = ["1=1"], []
    if spec.get("disabled") and not settings.get("include_disabled"):
        where.append("disabled = 0")
    if spec.get("company") and settings.get("company"):
        where.append("company = %s"); args.append(settings["company"])
    if settings.get("warehouses") and spec.get("warehouse_field"):
        where.append(f"`{{spec['warehouse_field']}}` in %s"); args.append(tuple(settings["warehouses"]))
    if spec.get("submittable") and settings.get("submitted_only"):
        where.append("docstatus = 1")
    if settings.get("start_date"):
        where.append("modified >= %s"); args.append(settings["start_date"])
    rows = frappe.db.sql(f"select name, modified, docstatus from `tab{{doctype}}` where {{' and '.join(where)}}", args, as_dict=True)
    entry = {{"names": sorted(r["name"] for r in rows), "modified": {{r["name"]: str(r["modified"]) for r in rows}}}}
    if child:
        fieldname, child_doctype = child
        children = frappe.db.sql(
            f"select parent, name from `tab{{child_doctype}}` where parenttype = %s and parentfield = %s order by parent, idx",
            (doctype, fieldname), as_dict=True)
        wanted = set(entry["names"])
        by_parent = {{}}
        for c in children:
            if c["parent"] in wanted:
                by_parent.setdefault(c["parent"], []).append(c["name"])
        entry["children"] = by_parent
    result[stream] = entry
"""


def expected(site: Site, streams: List[str], extra: Optional[Dict[str, str]] = None, **settings) -> Dict[str, dict]:
    """Per stream: the names the database holds under these settings (the connector's filters), their `modified`, and
    the child rows' names per parent in idx order. `extra`: additional DocTypes, stream -> DocType."""
    specs = {}
    for stream in streams:
        doctype = STREAMS.get(stream) or (extra or {})[stream]
        specs[stream] = {
            "doctype": doctype,
            "child": CHILD_TABLES.get(stream),
            "disabled": stream in WITH_DISABLED,
            "company": stream in WITH_COMPANY,
            "submittable": stream in SUBMITTABLE,
            "warehouse_field": {"bin": "warehouse", "warehouse": "name"}.get(stream),
        }
    return site.run(EXPECTED_SNIPPET.format(settings=json.dumps(settings), streams=json.dumps(specs)))


# -- comparing with the database --------------------------------------------------------------------------------------

LAYOUT_TYPES = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold", "Heading"}
TYPE_MAP = {
    "Int": "integer", "Long Int": "integer", "Check": "integer",
    "Float": "number", "Currency": "number", "Percent": "number",
    "Table": "array", "Table MultiSelect": "array",
}
FORMATS = {"Date": "date", "Datetime": "date-time"}


# The formats Airbyte's types take (date, timestamp_without_timezone, time_without_timezone); jsonschema's own checkers
# are stricter (RFC 3339 offsets) or absent, depending on what is installed.
FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
FORMAT_PATTERNS = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "date-time": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?",
    "time": r"\d{2}:\d{2}:\d{2}(\.\d{1,6})?",
}
for _format, _pattern in FORMAT_PATTERNS.items():
    FORMAT_CHECKER.checks(_format)(lambda value, _p=re.compile(_pattern): not isinstance(value, str) or bool(_p.fullmatch(value)))


def parse_dt(value) -> datetime:
    return datetime.fromisoformat(str(value).replace("T", " "))


def mismatches(run: Run, want: Dict[str, dict], streams: List[str]) -> List[str]:
    """Differences between the records of a read and the database, per stream."""
    problems = []
    records = run.records()
    for stream in streams:
        got = [r for r in records.get(stream, []) if not r.get(DELETED_AT)]
        names = [r["name"] for r in got]
        db_names = set(want[stream]["names"])
        twice = sorted(n for n, c in Counter(names).items() if c > 1)
        missing, extra = sorted(db_names - set(names)), sorted(set(names) - db_names)
        if twice or missing or extra:
            problems.append(
                f"{stream}: {len(names)} records for {len(db_names)} in the database; {len(twice)} emitted twice {twice[:3]}, "
                f"{len(missing)} missing {missing[:3]}, {len(extra)} not in the database under these settings {extra[:3]}"
            )
        wrong_modified = [r["name"] for r in got if r["name"] in db_names and parse_dt(r["modified"]) != parse_dt(want[stream]["modified"][r["name"]])]
        if wrong_modified:
            problems.append(f"{stream}: `modified` differs from the database for {len(wrong_modified)} records, e.g. {wrong_modified[:3]}")
        if stream in CHILD_TABLES:
            fieldname, _ = CHILD_TABLES[stream]
            wrong_children = [r["name"] for r in got if [c.get("name") for c in (r.get(fieldname) or [])] != want[stream]["children"].get(r["name"], [])]
            if wrong_children:
                problems.append(f"{stream}: child rows `{fieldname}` differ from the database (or from idx order) for {len(wrong_children)} records, e.g. {wrong_children[:3]}")
    return problems


def assert_equals_database(run: Run, want: Dict[str, dict], streams: List[str]) -> None:
    problems = mismatches(run, want, streams)
    assert run.returncode == 0 and not problems, "\n".join([run.why(), *problems])


def types_of(prop: dict) -> set:
    t = prop.get("type", [])
    return set([t] if isinstance(t, str) else t) - {"null"}


META_SNIPPET = """
result = {}
for stream, doctype in %r.items():
    meta = frappe.get_meta(doctype)
    result[stream] = {"fields": [[f.fieldname, f.fieldtype, f.options] for f in meta.fields], "children": {}}
    for f in meta.fields:
        if f.fieldtype in ("Table", "Table MultiSelect"):
            result[stream]["children"][f.fieldname] = [[c.fieldname, c.fieldtype] for c in frappe.get_meta(f.options).fields]
"""


# -- what the connector asks a real site ----------------------------------------------------------------------------------


class CountingRelay:
    """A TCP relay on 127.0.0.1 in front of a real site that counts the requests passing through, by path (no query).
    Point the connector's base_url at `url`; `requests` is a Counter of unquoted paths."""

    def __init__(self, target_url: str):
        import socket
        import threading
        from urllib.parse import urlsplit

        target = urlsplit(target_url)
        self._target = (target.hostname, target.port)
        self.requests: Counter = Counter()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, count: bool) -> None:
        from urllib.parse import unquote

        try:
            while chunk := source.recv(65536):
                if count:  # GET requests have no body: every request line starts a line of its own
                    for line in chunk.split(b"\r\n"):
                        if line.startswith(b"GET "):
                            with self._lock:
                                self.requests[unquote(line.split(b" ")[1].split(b"?")[0].decode())] += 1
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(2)
                except OSError:
                    pass

    def close(self) -> None:
        self._server.close()

"""The real-Frappe suite: a real Frappe site per version (scripts/real-frappe), the installed connector run as Airbyte runs
it, and the database as the truth. No mocks: every server is a real process, and nothing is left running after the
session (scripts/real-frappe down, also when a test or the setup fails).

Which Frappe versions run: REAL_FRAPPE_VERSIONS (comma-separated among v14, v15, develop; default v15).
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer, Type

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "real-frappe"
DATA_SCRIPT = ROOT / "scripts" / "real_frappe_data.py"
SOURCE = Path(sys.executable).parent / "source-erpnext"
ALL_VERSIONS = ("v14", "v15", "develop")
VERSIONS = [v.strip() for v in os.environ.get("REAL_FRAPPE_VERSIONS", "v15").split(",") if v.strip()]
assert set(VERSIONS) <= set(ALL_VERSIONS), f"REAL_FRAPPE_VERSIONS: {VERSIONS} (known: {ALL_VERSIONS})"

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


# -- the site ------------------------------------------------------------------------------------------------------------


@dataclass
class Site:
    version: str
    configs: Dict[str, Any]
    facts: Dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.configs["base_url"]

    def config(self, user: str = "api", **settings) -> Dict[str, Any]:
        return {**self.configs[user], **settings}

    def run(self, code: str, timeout: int = 300) -> Any:
        """Run Python inside the site (Frappe's own process, as Administrator), commit; return its `result`."""
        bench = Path(self.configs["bench"])
        env = {**os.environ, "REAL_FRAPPE_SITE": self.configs["site"], "PYTHONUNBUFFERED": "1"}
        done = subprocess.run([self.configs["python"], str(DATA_SCRIPT), "exec"], input=code, cwd=bench / "sites", env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"snippet failed in the {self.version} site:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return json.loads(done.stdout.rsplit("@@RESULT@@", 1)[1])


@pytest.fixture(scope="session")
def real_frappe_processes():
    """Stops everything scripts/real-frappe started when the session ends, whatever happened."""
    try:
        yield
    finally:
        subprocess.run([str(SCRIPT), "down"], cwd=ROOT, timeout=300)


@pytest.fixture(scope="session", params=VERSIONS, ids=VERSIONS)
def site(request, real_frappe_processes) -> Site:
    version = request.param
    done = subprocess.run([str(SCRIPT), "up", version], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    sys.stderr.write(done.stderr[-3000:])  # the steps and their timings (no secrets: those are only in configs.json)
    assert done.returncode == 0, f"scripts/real-frappe up {version} failed:\n{done.stdout[-2000:]}\n{done.stderr[-8000:]}"
    configs = json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
    facts = json.loads((Path(configs["bench"]) / "data.json").read_text())
    facts.pop("users", None)
    return Site(version, configs, facts)


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
        """discover, then read the chosen streams (all by default) with the discovered schemas."""
        discovered = self.discover(config)
        chosen = streams or list(discovered)
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


@pytest.fixture
def connector(tmp_path) -> Connector:
    return Connector(tmp_path)


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

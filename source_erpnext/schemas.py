"""JSON schemas: built from the site's DocType metadata (custom fields included), else the bundled schemas/ files."""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .http import get_json
from .spec import ErpnextConfig

DELETED_AT = "_ab_cdc_deleted_at"
DATETIME = {"type": ["null", "string"], "format": "date-time", "airbyte_type": "timestamp_without_timezone"}
STRING = {"type": ["null", "string"]}
TIME = {"type": ["null", "string"], "format": "time", "airbyte_type": "time_without_timezone"}
INTEGER = {"type": ["null", "integer"]}
NUMBER = {"type": ["null", "number"]}
# Columns every document has (frappe.model.default_fields), and those of child rows.
STANDARD_COLUMNS = {
    "name": STRING, "owner": STRING, "creation": DATETIME, "modified": DATETIME,
    "modified_by": STRING, "docstatus": INTEGER, "idx": INTEGER,
}
CHILD_COLUMNS = {"parent": STRING, "parentfield": STRING, "parenttype": STRING}
FIELD_TYPES = {
    "Int": INTEGER, "Long Int": INTEGER, "Check": INTEGER, "Duration": NUMBER,
    "Float": NUMBER, "Currency": NUMBER, "Percent": NUMBER, "Rating": NUMBER,
    "Date": {"type": ["null", "string"], "format": "date"},
    "Datetime": DATETIME,
    "Time": TIME,
    "JSON": {},
}
# Layout fields have no column (frappe.model.no_value_fields); tables come as child rows.
NO_VALUE_TYPES = {"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold", "Heading", "Table", "Table MultiSelect"}
TABLE_TYPES = {"Table", "Table MultiSelect"}


@dataclass
class DocTypeMeta:
    """What the connector needs from a DocType's metadata."""

    doctype: str
    properties: Dict[str, Any]
    child_tables: Dict[str, str] = field(default_factory=dict)  # record field -> child DocType
    child_properties: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # child DocType -> its properties
    is_submittable: bool = False
    from_site: bool = False  # read from the site (not the bundled fallback): its columns are the site's own
    sort_field: Optional[str] = None  # the DocType's default sort (Frappe 16 indexes `modified` only when it is that)

    def has_field(self, fieldname: str) -> bool:
        return fieldname in self.properties

    def time_fields(self) -> Dict[str, List[str]]:
        """Time fields: record field -> its Time columns ("" for the record's own, else a child-table field)."""
        fields = {"": [f for f, p in self.properties.items() if p == TIME]}
        for fieldname, child in self.child_tables.items():
            fields[fieldname] = [f for f, p in self.child_properties.get(child, {}).items() if p == TIME]
        return {k: v for k, v in fields.items() if v}


def iso_time(value: Any) -> Any:
    """Frappe writes Time values with format_timedelta: hours and (below 10) seconds unpadded ('2:09:6.837815');
    the schema's `time` format, and destinations, want 02:09:06.837815."""
    try:
        hours, minutes, seconds = str(value).split(":")
        whole, _, fraction = seconds.partition(".")
        return f"{int(hours):02d}:{int(minutes):02d}:{int(whole):02d}" + (f".{fraction}" if fraction else "")
    except ValueError:
        return value  # not a time of day (MariaDB TIME also holds durations): as ERPNext sent it


def fetch_meta(client: HttpClient, config: ErpnextConfig, doctype: str) -> DocTypeMeta:
    """One request: frappe.desk.form.load.getdoctype returns the merged meta of the DocType and of its child DocTypes."""
    # with_parent: for a child table, Frappe names its parent DocType (parent_dt) and answers with the parent's metadata.
    answer = get_json(client, config, "api/method/frappe.desk.form.load.getdoctype", {"doctype": doctype, "with_parent": 1})
    metas = {doc["name"]: doc for doc in answer.get("docs", []) if isinstance(doc, dict) and "name" in doc}
    if answer.get("parent_dt") or metas.get(doctype, {}).get("istable"):
        raise_child_table(doctype, answer.get("parent_dt"), metas)
    if doctype not in metas:
        message = f"ERPNext has no DocType named exactly '{doctype}' (its metadata answer holds {', '.join(metas) or 'none'}). Check the name's spelling and case."
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
    main = metas[doctype]
    child_tables = {
        f["fieldname"]: f["options"] for f in main.get("fields", []) if f.get("fieldtype") in TABLE_TYPES and f.get("options")
    }
    return DocTypeMeta(
        doctype=doctype,
        properties=_properties(main.get("fields", []), STANDARD_COLUMNS),
        child_tables=child_tables,
        child_properties={
            child: _properties(metas[child].get("fields", []), {**STANDARD_COLUMNS, **CHILD_COLUMNS})
            for child in child_tables.values() if child in metas
        },
        is_submittable=bool(main.get("is_submittable")),
        from_site=True,
        sort_field=main.get("sort_field"),
    )


def raise_child_table(doctype: str, parent: Optional[str], metas: Dict[str, dict]) -> None:
    fields = [f["fieldname"] for f in metas.get(parent or "", {}).get("fields", []) if f.get("fieldtype") in TABLE_TYPES and f.get("options") == doctype]
    carried = f" in its field '{fields[0]}'" if fields else ""
    where = f"of {parent}: its rows come inside each {parent} record{carried}" if parent else "of another DocType: its rows come inside that DocType's records"
    message = (
        f"'{doctype}' is a child table {where}, and Frappe does not list child rows on their own (it refuses, even "
        f"to Administrator). Remove '{doctype}' from Additional DocTypes" + (f"; read {parent} instead (its stream carries these rows)." if parent else ".")
    )
    raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


def _properties(fields: List[dict], standard: Dict[str, Any]) -> Dict[str, Any]:
    properties = dict(standard)
    for f in fields:
        if f.get("fieldname") and f.get("fieldtype") not in NO_VALUE_TYPES:
            properties[f["fieldname"]] = FIELD_TYPES.get(f.get("fieldtype"), STRING)
    return properties


def stream_schema(meta: DocTypeMeta) -> Dict[str, Any]:
    properties = dict(meta.properties)
    for fieldname, child in meta.child_tables.items():
        child_properties = meta.child_properties.get(child, {**STANDARD_COLUMNS, **CHILD_COLUMNS})
        properties[fieldname] = {
            "type": ["null", "array"],
            "items": {"type": "object", "additionalProperties": True, "properties": child_properties},
        }
    properties[DELETED_AT] = DATETIME
    return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": True, "properties": properties}


def bundled_schema(stream: str) -> Optional[Dict[str, Any]]:
    """The schema shipped as schemas/<stream>.json: inside the installed package, or beside it in a checkout."""
    here = Path(__file__).resolve().parent
    for folder in (here / "schemas", here.parent / "schemas"):
        if (folder / f"{stream}.json").exists():
            return json.loads((folder / f"{stream}.json").read_text())
    return None


def meta_from_bundled(doctype: str, schema: Dict[str, Any], child_tables: Dict[str, str]) -> DocTypeMeta:
    properties = {k: v for k, v in schema["properties"].items() if k not in child_tables and k != DELETED_AT}
    child_properties = {
        child: schema["properties"].get(fieldname, {}).get("items", {}).get("properties", {**STANDARD_COLUMNS, **CHILD_COLUMNS})
        for fieldname, child in child_tables.items()
    }
    return DocTypeMeta(doctype, properties, dict(child_tables), child_properties)


def load_meta(client: HttpClient, config: ErpnextConfig, doctype: str, stream: str, child_tables: Dict[str, str], logger: logging.Logger) -> DocTypeMeta:
    """The site's metadata; when it cannot be read, the bundled schema, said in the log."""
    try:
        return fetch_meta(client, config, doctype)
    except (AirbyteTracedException, ValueError, KeyError, TypeError) as error:
        schema = bundled_schema(stream)
        if schema is None:
            raise
        reason = error.message if isinstance(error, AirbyteTracedException) else str(error)
        logger.warning(f"Could not read the metadata of DocType '{doctype}' ({reason}); using the bundled schema for stream '{stream}'.")
        return meta_from_bundled(doctype, schema, child_tables)

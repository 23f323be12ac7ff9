"""Column selection: the configured catalog carries only the fields a user selected in Airbyte; Frappe is asked for
those (and the ones the connector itself reads), and a child table is fetched only when its field is selected."""

from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Mapping, Optional

from .doctypes import DocType
from .schemas import DELETED_AT, DocTypeMeta

# What the connector reads itself: the key, the cursor, `creation` (which leavers may have been replicated), and of
# child rows their key, parent and order.
OWN_FIELDS = ("name", "modified", "creation")
OWN_CHILD_FIELDS = ("name", "parent", "idx")


@dataclass(frozen=True)
class Selection:
    fields: List[str]  # columns to ask Frappe for
    child_fields: Dict[str, List[str]]  # selected child-table field -> the child columns to ask for
    keep: FrozenSet[str]  # what a record holds: the selected fields


def selection(configured_schema: Optional[Mapping[str, Any]], meta: DocTypeMeta, table: DocType) -> Optional[Selection]:
    """None when every field is selected (or the selection can't be trusted: metadata not from the site, where
    naming a column the site lacks would fail the query)."""
    selected = (configured_schema or {}).get("properties") or {}
    # The stream's child tables: every Table field of the site's metadata (doctypes.with_meta).
    everything = set(meta.properties) | set(table.child_tables)
    if not selected or everything <= set(selected) or not meta.from_site:
        return None
    status = [f for f in (table.disabled_field, "docstatus" if table.submittable else None) if f]
    fields = [f for f in meta.properties if f in selected or f in OWN_FIELDS or f in status]
    child_fields = {}
    for fieldname, child in table.child_tables.items():
        if fieldname in selected:
            columns = selected[fieldname].get("items", {}).get("properties") or {}
            known = meta.child_properties.get(child, {})
            wanted = [c for c in known if c in columns and c not in OWN_CHILD_FIELDS]
            child_fields[fieldname] = list(OWN_CHILD_FIELDS) + wanted if columns and known else ["*"]
    return Selection(fields=fields, child_fields=child_fields, keep=frozenset(selected) | {"name", "modified", DELETED_AT})

"""Which key a DocType's table can answer pages of from an index, `modified` or `creation`.

Frappe 14 and 15 index `modified` on every table. Frappe 16 indexes `creation`, and `modified` only for DocTypes
sorted by it (frappe/database/mariadb/schema.py); its patch v16_0/switch_default_sort_order drops the `modified`
index of the others from upgraded sites, and ERPNext 16 sorts nearly every DocType by `creation`. An admin may add
one back with `bench add-database-index`, which records a Property Setter (search_index on `modified`) so that
migrations keep it: that is how the connector learns of it.
"""

import logging
from typing import Any, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .http import get_json, refused
from .keyset import CREATION, MODIFIED
from .request_line import compact_json
from .spec import ErpnextConfig

VERSIONS = "api/method/frappe.utils.change_log.get_versions"


def frappe_major(client: Any, config: ErpnextConfig, logger: logging.Logger) -> Optional[int]:
    """Frappe's major version (any logged-in user may ask); None when the site does not say."""
    try:
        answer = get_json(client, config, VERSIONS)
        return int(str(answer["message"]["frappe"]["version"]).split(".")[0])
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:  # refused or unknown (a 403, 404, 417): not a site down
            raise
    except (KeyError, TypeError, ValueError):
        pass
    logger.warning("ERPNext did not say which Frappe version it runs; pages are read over `modified`, which Frappe 14 and 15 index.")
    return None


def has_modified_index(client: Any, config: ErpnextConfig, doctype: str, sort_field: Optional[str], major: Optional[int]) -> Optional[bool]:
    """Whether `doctype`'s table has an index on `modified`; None when only a Property Setter could say and the API user
    may not read Property Setters."""
    if major is None or major < 16 or (sort_field or "").split(" ")[0] == MODIFIED:
        return True
    filters = [["doc_type", "=", doctype], ["field_name", "=", MODIFIED], ["property", "=", "search_index"], ["value", "=", "1"]]
    params = {"fields": compact_json(["name"]), "filters": compact_json(filters), "limit_page_length": 1}
    try:
        return bool(get_json(client, config, "api/resource/Property Setter", params).get("data"))
    except AirbyteTracedException as error:
        if refused(error):
            return None
        raise


def read_key(indexed: Optional[bool]) -> str:
    return MODIFIED if indexed else CREATION


def deleted_document_key(major: Optional[int]) -> str:
    """Frappe 16 sorts the Deleted Document log by `creation`, so it indexes only that (a deletion is logged when it
    happens; `modified` moves only when it is restored)."""
    return CREATION if (major or 0) >= 16 else MODIFIED


def no_index_note(doctype: str, indexed: Optional[bool]) -> str:
    """What the log says of a table without a `modified` index: what the connector does instead, and the admin's fix."""
    unsure = " (or the API user may not read Property Setter, which would say it was added)" if indexed is None else ""
    return (
        f"{doctype} has no index on `modified` on this Frappe 16 site{unsure}: its pages are read over `creation`, "
        "which Frappe 16 indexes, and each incremental sync finds the documents changed since the last one in one "
        f"scan of the table. An admin can spare that scan by adding the index: bench --site <site> add-database-index "
        f"--doctype \"{doctype}\" --column modified"
    )

"""The connector's configuration: one pydantic model, rendered as the Airbyte spec and used to validate configs."""

import re
from datetime import datetime
from typing import Any, List, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DOCUMENTATION_URL = "https://docs.airbyte.com/integrations/sources/erpnext"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
# A DocType name as Frappe allows it: letters, digits, spaces, hyphens and underscores.
DOCTYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,139}$")
# A date, or a date and time, as Frappe writes them (a T between them is accepted too).
START_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")
START_DATE_HINT = "must be a date such as 2025-01-31, or a date and time such as 2025-01-31 08:00:00"


class ErpnextConfig(BaseModel):
    model_config = ConfigDict(title="ERPNext Source Spec", extra="allow")

    base_url: str = Field(
        title="Site URL",
        description="Address of your ERPNext site, as you open it in the browser. Must use https "
        "(plain http is accepted only for localhost).",
        examples=["https://erp.example.com"],
        json_schema_extra={"order": 0},
    )
    api_key: str = Field(
        title="API Key",
        description="API key of the ERPNext user the connector reads as (User > Settings > API Access > Generate Keys).",
        json_schema_extra={"order": 1, "airbyte_secret": True},
    )
    api_secret: str = Field(
        title="API Secret",
        description="API secret shown once when the keys were generated.",
        json_schema_extra={"order": 2, "airbyte_secret": True},
    )
    start_date: Optional[str] = Field(
        default=None,
        title="Start Date",
        description="Only records modified on or after this date are replicated, e.g. 2025-01-31 or "
        "2025-01-31 08:00:00 (the site's time zone). Leave empty to read everything.",
        examples=["2025-01-31", "2025-01-31 08:00:00"],
        # No `pattern`: the CDK would answer a wrong value with the regular expression; the validator says what fits.
        json_schema_extra={"order": 3},
    )
    include_disabled: bool = Field(
        default=False,
        title="Include Disabled Records",
        description="Also replicate disabled items, suppliers, customers and warehouses.",
        json_schema_extra={"order": 4},
    )
    company: Optional[str] = Field(
        default=None,
        title="Company",
        description="Only replicate transactions and warehouses of this company (its exact name in ERPNext).",
        examples=["Test Company"],
        json_schema_extra={"order": 5},
    )
    warehouses: List[str] = Field(
        default_factory=list,
        title="Warehouses",
        description="Only replicate stock (bins) of these warehouses. Leave empty for all.",
        examples=[["Stores - TC", "Finished Goods - TC"]],
        json_schema_extra={"order": 6},
    )
    submitted_only: bool = Field(
        default=False,
        title="Submitted Transactions Only",
        description="Skip draft and cancelled sales orders, purchase orders and stock entries (docstatus 1 only).",
        json_schema_extra={"order": 7},
    )
    additional_doctypes: List[str] = Field(
        default_factory=list,
        title="Additional DocTypes",
        description="DocTypes named explicitly (e.g. Sales Invoice, Stock Ledger Entry): listed right after the standard streams and checked by the connection test, which names the permission an unreadable one needs. Every other DocType the API user may read is in the catalog anyway.",
        examples=[["Sales Invoice", "Material Request"]],
        json_schema_extra={"order": 8},
    )
    sync_deletions: bool = Field(
        default=True,
        title="Replicate Deletions",
        description="In incremental syncs, read ERPNext's Deleted Document log and emit a deletion record "
        "(_ab_cdc_deleted_at) for each deleted document. Needs read permission on Deleted Document.",
        json_schema_extra={"order": 9},
    )
    lookback_window_minutes: int = Field(
        default=5,
        ge=0,
        le=1440,
        title="Lookback Window (minutes)",
        description="Each incremental sync starts this far behind the saved position, so documents whose save "
        "committed late (large submits) are not missed. Repeats are removed by deduplication.",
        json_schema_extra={"order": 10},
    )
    page_size: int = Field(
        default=500,
        ge=1,
        le=1000,
        title="Page Size",
        description="Records per request (1 to 1000).",
        json_schema_extra={"order": 11},
    )
    max_concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        title="Concurrent Requests",
        description="How many requests the connector may have in flight at once. Keep it low for a small ERPNext.",
        json_schema_extra={"order": 12},
    )
    refresh_open_documents: bool = Field(
        default=True,
        title="Refresh Open Documents",
        description="In incremental syncs, also read again the documents ERPNext can still change without moving "
        "their `modified` time (unpaid invoices turned Overdue, orders being picked or received): about one request "
        "per page of such open documents per stream.",
        json_schema_extra={"order": 13},
    )

    @field_validator("base_url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        # Tolerate a URL pasted from the desk (https://erp.example.com/app/item) or from API docs (.../api,
        # .../api/resource/Item): Frappe serves both under the site's root, where the connector adds /api/... itself.
        path = re.sub(r"/(app|api)(/.*)?$", "", parts.path.rstrip("/"))
        url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be a URL such as https://erp.example.com")
        if parts.username is not None or parts.password is not None:
            # user:password@ would be logged with the URL; the connector authenticates with the API key and secret.
            raise ValueError("must not hold a user name or password (use the API key and secret fields)")
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            raise ValueError("must use https (plain http is only accepted for localhost)")
        return url

    @field_validator("api_key", "api_secret")
    @classmethod
    def _credential(cls, value: str) -> str:
        # Pasted keys often end in a newline: requests would refuse the header and repeat it, secret and all, in its
        # error. Surrounding blanks go; anything else unprintable is refused without echoing the value.
        value = value.strip()
        if not value or not value.isprintable() or " " in value:
            raise ValueError("must be the key or secret exactly as ERPNext shows it (no spaces or line breaks inside)")
        return value

    @field_validator("start_date", mode="before")
    @classmethod
    def _start_date(cls, value: Any) -> Optional[str]:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not START_DATE.match(value.strip()):
            raise ValueError(START_DATE_HINT)
        try:
            parsed = datetime.fromisoformat(value.strip().replace("T", " "))
        except ValueError:  # the right shape, but no such day or time (2025-02-30)
            raise ValueError(START_DATE_HINT) from None
        return format_datetime(parsed)

    @field_validator("additional_doctypes")
    @classmethod
    def _doctype_names(cls, value: List[str]) -> List[str]:
        names = [name.strip() for name in value if name.strip()]
        for name in names:
            if not DOCTYPE_NAME.match(name):
                raise ValueError(f"'{name}' is not a DocType name (letters, digits, spaces, '-' and '_')")
        return names

    @classmethod
    def airbyte_spec(cls) -> dict:
        """The JSON schema the Airbyte UI renders: optional values as plain types, no pydantic anyOf-null."""
        schema = cls.model_json_schema()
        for prop in schema["properties"].values():
            variants = prop.pop("anyOf", None)
            if variants:
                prop.update(next(v for v in variants if v.get("type") != "null"))
        schema["additionalProperties"] = True
        return schema


def format_datetime(value: datetime) -> str:
    """Frappe's datetime text with microseconds, so comparisons on the server keep sub-second precision."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_config(config: Mapping[str, Any]) -> ErpnextConfig:
    """Validate a config; a problem becomes a config error naming the field (never echoing its value)."""
    try:
        return ErpnextConfig.model_validate(dict(config))
    except ValidationError as error:
        problems = []
        for item in error.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in item["loc"]) or "config"
            problems.append(f"'{field}' {item['msg'].removeprefix('Value error, ')}")
        message = "Invalid configuration: " + "; ".join(problems) + "."
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error) from None

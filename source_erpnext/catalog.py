"""Which DocTypes are streams beyond the configured ones: every DocType the API user may read that Frappe lists as
documents (no child tables, singles or virtual DocTypes), each with the site's metadata. Discover reads them all,
concurrently within max_concurrency; read looks up only the DocTypes its catalog names."""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .doctypes import DocType, stream_name
from .http import CHECK_RETRIES, RequestLimiter, get_json, http_client, resource_path
from .request_line import compact_json
from .schemas import DocTypeMeta, fetch_meta
from .spec import ErpnextConfig

# frappe.desk.search.search_widget answers any logged-in user on DocType (it sets ignore_permissions for it), and,
# DocType being a translated DocType, applies no page length: every DocType that matches comes in one answer.
DOCTYPE_LIST = "api/method/frappe.desk.search.search_widget"
LISTABLE = [["istable", "=", 0], ["issingle", "=", 0], ["is_virtual", "=", 0]]
MAX_DOCTYPES = 100_000  # page_length, for a site whose DocType would apply one
NAMES_IN_A_MESSAGE = 20


def discover_client(config: ErpnextConfig, logger: logging.Logger, limiter: RequestLimiter) -> HttpClient:
    # The operator waits for discover: retried briefly, like check.
    return http_client("discover", config, logger, limiter=limiter, max_retries=CHECK_RETRIES, refusals_answer=True)


def listable_doctypes(client: HttpClient, config: ErpnextConfig) -> List[str]:
    """The names of the site's DocTypes that hold documents, sorted: one request."""
    params = {"doctype": "DocType", "txt": "", "filters": compact_json(LISTABLE), "page_length": MAX_DOCTYPES}
    answer = get_json(client, config, DOCTYPE_LIST, params)
    rows = answer.get("message") if isinstance(answer, dict) else None
    if not isinstance(rows, list):
        message = "ERPNext's answer to the list of DocTypes (frappe.desk.search.search_widget) holds no list under 'message'."
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)
    names = (row[0] if isinstance(row, list) and row else row.get("name") if isinstance(row, dict) else None for row in rows)
    return sorted({name for name in names if isinstance(name, str) and name})


def _readable_meta(client: HttpClient, config: ErpnextConfig, doctype: str) -> Optional[DocTypeMeta]:
    """The DocType's metadata if the API user may read its documents (a one-name list request tells), else None."""
    params = {"fields": compact_json(["name"]), "limit_page_length": 1}
    _, response = client.send_request("GET", f"{config.base_url}/{resource_path(doctype)}", request_kwargs={}, params=params)
    if response.status_code == 403:
        return None
    return fetch_meta(client, config, doctype)


def _names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:NAMES_IN_A_MESSAGE])
    return shown + (f" and {len(names) - NAMES_IN_A_MESSAGE} more" if len(names) > NAMES_IN_A_MESSAGE else "")


def readable_doctypes(
    config: ErpnextConfig, logger: logging.Logger, limiter: RequestLimiter, known: Set[str], taken: Set[str]
) -> List[Tuple[DocType, DocTypeMeta]]:
    """Every listable DocType but the `known` ones that the API user may read, as a stream row with its metadata:
    one request for the list, then per DocType a one-name list request and (when readable) its metadata, up to
    max_concurrency at a time. DocTypes the user may not read are left out (said in the log); so is one whose stream
    name is `taken` or that fails (said as a warning), without failing discover."""
    client = discover_client(config, logger, limiter)
    try:
        names = [name for name in listable_doctypes(client, config) if name not in known]
    except AirbyteTracedException as error:
        logger.warning(f"Could not list the site's DocTypes ({error.message}); the catalog holds the configured streams only.")
        return []

    def one(doctype: str) -> Tuple[str, Optional[DocTypeMeta], Optional[str]]:
        try:
            return doctype, _readable_meta(client, config, doctype), None
        except (AirbyteTracedException, ValueError, KeyError, TypeError) as error:
            return doctype, None, error.message if isinstance(error, AirbyteTracedException) else str(error)

    results = in_parallel(one, names, config.max_concurrency)
    found, unreadable, failed = [], [], []
    for doctype, meta, error in results:
        name = stream_name(doctype)
        if error:
            failed.append(f"{doctype} ({error})")
        elif meta is None:
            unreadable.append(doctype)
        elif name in taken:
            logger.warning(f"DocType '{doctype}' is left out of the catalog: its stream name '{name}' is another stream's.")
        else:
            taken.add(name)
            found.append((DocType(name, doctype), meta))
    if unreadable:
        logger.info(f"Left out {len(unreadable)} DocTypes the API user may not read: {_names(unreadable)}.")
    if failed:
        logger.warning(f"Left out {len(failed)} DocTypes whose list or metadata could not be read: {_names(failed)}.")
    return found


def doctypes_named(
    stream_names: Set[str], config: ErpnextConfig, logger: logging.Logger, limiter: RequestLimiter
) -> List[DocType]:
    """The DocTypes behind `stream_names` (a configured catalog's streams that are not configured ones), found in the
    site's DocType list (one request, none when there are no such names). A name no DocType has is left out (the CDK
    then says the catalog names a stream the source does not have). The request is a read's: retried as reads are,
    and a failure fails the read as the site's error, not as streams that seem to be missing."""
    if not stream_names:
        return []
    doctypes = listable_doctypes(http_client("catalog", config, logger, limiter=limiter), config)
    by_stream: Dict[str, str] = {}
    for doctype in doctypes:
        by_stream.setdefault(stream_name(doctype), doctype)  # the first, as discover keeps it
    return [DocType(name, by_stream[name]) for name in sorted(stream_names) if name in by_stream]


def in_parallel(work: Callable, items: list, workers: int) -> list:
    """work(item) for each item, up to `workers` at a time, in order; the first exception is raised."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(work, items))

"""Requests that fit the web server in front of Frappe.

Production Frappe runs behind gunicorn, which refuses a request line (method, path, query string, protocol) over
4,094 bytes with `400 Bad Request`; nginx in front allows 8 KB, so gunicorn's limit is the binding one. Requests
whose length depends on data (`parent in [...]` for child rows) are cut to fit.
"""

import json
from typing import Any, Callable, Iterator, List, Mapping
from urllib.parse import quote_plus, urlencode, urlsplit

MAX_REQUEST_LINE = 4094  # gunicorn's default --limit-request-line
REQUEST_LINE_BUDGET = 4000  # under gunicorn's limit, with room for a proxy that prefixes the path
SEPARATOR = len(quote_plus(","))
CONTINUATION_ROOM = len(quote_plus(',["name",">",""]')) + 20  # a next page's `name >` filter, for a 20-byte row name


def compact_json(value: Any) -> str:
    """JSON without the spaces after separators: each `, ` costs 4 bytes in a URL, `,` costs 3."""
    return json.dumps(value, separators=(",", ":"))


def request_line_length(url: str, params: Mapping[str, Any]) -> int:
    """Bytes of `GET <path>?<query> HTTP/1.1` as requests sends it (the query percent-encoded by urlencode)."""
    return len("GET ") + len(urlsplit(url).path) + 1 + len(urlencode(params)) + len(" HTTP/1.1")


def in_value(names: List[str]) -> Any:
    """The value of an `in` filter on names. Frappe also takes a comma-separated string (it splits and strips), about a
    third of the URL of a JSON list; names holding a comma or outer spaces need the list."""
    return ",".join(names) if all("," not in n and n == n.strip() for n in names) else names


def name_cost(name: str, as_string: bool) -> int:
    """What one more name adds to the percent-encoded `in` value, separator included."""
    quoted = json.dumps(name)  # inside the filters' JSON, a name is escaped whether it stands alone or in a string
    return len(quote_plus(quoted[1:-1] if as_string else quoted)) + SEPARATOR


def fit_in_filter(url: str, params_for: Callable[[Any], Mapping[str, Any]], names: List[str], budget: int, room: int = 0) -> Iterator[List[str]]:
    """Consecutive runs of `names`, each as long as keeps the request line of `params_for(in_value(run))` plus `room`
    within `budget`. The line with an empty value is measured once; every name then adds exactly name_cost."""
    as_string = isinstance(in_value(names), str)
    size = empty = request_line_length(url, params_for("" if as_string else [])) + room - SEPARATOR  # no separator before the first name
    chunk: List[str] = []
    for name in names:
        cost = name_cost(name, as_string)
        if chunk and size + cost > budget:
            yield chunk
            chunk, size = [], empty
        chunk.append(name)
        size += cost
    if chunk:
        yield chunk

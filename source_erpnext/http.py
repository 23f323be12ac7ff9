"""How the connector talks to Frappe: token auth, retries with backoff, and Frappe's errors turned into actionable messages."""

import html
import json
import logging
import re
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional, Union
from urllib.parse import quote, unquote, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from airbyte_cdk.models import FailureType, StreamDescriptor
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorResolution, HttpStatusErrorHandler, ResponseAction
from airbyte_cdk.sources.http_config import MAX_CONNECTION_POOL_SIZE
from airbyte_cdk.sources.streams.http import rate_limiting
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.streams.http.requests_native_auth import TokenAuthenticator
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .spec import ErpnextConfig

MAX_RETRIES = 6
CHECK_RETRIES = 2  # check and discover answer an operator who waits: a wrong URL should not take minutes to say so
MAX_RETRY_TIME = timedelta(minutes=10)
MAX_BACKOFF_SECONDS = 60.0
REQUEST_TIMEOUT = (15, 300)  # seconds to connect, seconds to wait for a (possibly large) page
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
MAX_PACING_SECONDS = 30  # at most this long between request starts while pacing under the rate limit
MAX_RATE_LIMIT_WAIT = 120  # seconds a 429's Retry-After may ask us to wait; a longer wait stops the sync (state saved)
ERROR_TEXT_CHARS = 300
# How web servers say a request line or URL is too long: gunicorn's 400 "Request Line is too large (6786 > 4094)",
# nginx's 414 "Request-URI Too Large", 431 "Request Header Fields Too Large".
TOO_LONG = re.compile(r"request.line|request-uri|uri too|url too|too long", re.IGNORECASE)


def authenticator(config: ErpnextConfig) -> TokenAuthenticator:
    # Frappe's API-key auth: `Authorization: token <api_key>:<api_secret>` (frappe/auth.py).
    return TokenAuthenticator(token=f"{config.api_key}:{config.api_secret}", auth_method="token")


def resource_path(doctype: str, name: Optional[str] = None) -> str:
    path = f"api/resource/{quote(doctype, safe='')}"
    return f"{path}/{quote(name, safe='')}" if name else path


def body_text(response: requests.Response) -> str:
    """The words of a plain-text or HTML body (a web server's or proxy's error page), tags stripped, shortened."""
    text = re.sub(r"(?is)<(head|script|style)\b.*?</\1\s*>", " ", response.text or "")
    text = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", text)).split())
    return text if len(text) <= ERROR_TEXT_CHARS else text[: ERROR_TEXT_CHARS - 1] + "…"


def frappe_message(response: requests.Response) -> str:
    """The human part of an error body: Frappe's _server_messages, else `exception`/`message`; for a body that is not
    JSON, its text; else the status line."""
    try:
        body = response.json()
    except ValueError:
        return body_text(response) or f"HTTP {response.status_code} {response.reason or ''}".strip()
    messages = []
    if isinstance(body, dict):
        try:
            for item in json.loads(body.get("_server_messages") or "[]"):
                item = json.loads(item) if isinstance(item, str) else item
                messages.append(item.get("message", "") if isinstance(item, dict) else str(item))
        except (TypeError, ValueError, AttributeError):
            pass
        if not messages:
            exception = body.get("exception") or body.get("message") or _last_traceback_line(body.get("exc")) or body.get("exc_type")
            if exception:
                messages.append(str(exception))
    text = " ".join(m for m in messages if m) or f"HTTP {response.status_code}"
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _last_traceback_line(exc: Any) -> str:
    """The exception line of the first traceback in Frappe's `exc` (a JSON list of tracebacks), else ''."""
    try:
        tracebacks = json.loads(exc) if isinstance(exc, str) else exc
        return next(line for line in reversed(str(tracebacks[0]).splitlines()) if line.strip()).strip()
    except (TypeError, ValueError, IndexError, KeyError, StopIteration):
        return ""


# Frappe's exc_type for an error of the site's database (pymysql's / MySQLdb's, and frappe.exceptions' own).
DATABASE_ERRORS = {"OperationalError", "InterfaceError", "InternalError", "QueryTimeoutError", "QueryDeadlockError"}
# What an HTML error page means for a Frappe site: gunicorn's own 500 page (Frappe failed while answering an error:
# Frappe 16 does so whenever its database is unreachable, as its error path needs the database too), a proxy's 502/504.
PROXY_ERRORS = {
    500: "gunicorn's own page: Frappe failed while handling an error, as Frappe 16 does when the site's database is "
    "unreachable; the web workers' log has the traceback",
    502: "the proxy got no answer from ERPNext's workers: restarting, or killed?",
    504: "the proxy timed out waiting for ERPNext's workers",
}


def answer_of(response_or_exception: Union[requests.Response, Exception]) -> str:
    """A failed answer on one line, in the server's own words: status, path and Frappe's exc_type with the first
    line of its message, or a proxy's page's title; or what kept the request from an answer. Retries log it."""
    if not isinstance(response_or_exception, requests.Response):
        request = getattr(response_or_exception, "request", None)
        where = f" for {unquote(urlsplit(request.url).path)}" if request is not None and request.url else ""
        return f"Could not reach the site{where}: {_first_line(response_or_exception)}"
    response = response_or_exception
    status, path = response.status_code, unquote(urlsplit(response.url).path)
    if _is_html(response):
        title = re.search(r"(?is)<title[^>]*>(.*?)</title>", response.text or "")
        words = " ".join(html.unescape(title.group(1)).split()) if title else body_text(response)
        hint = f" ({PROXY_ERRORS[status]})" if status in PROXY_ERRORS else ""
        page = "an HTML page" if status == 500 else "an HTML page (a proxy's error page?)"
        return f"The site answered {status} for {path} with {page}: {words or response.reason}{hint}"
    try:
        body = response.json()
    except ValueError:
        body = None
    text = (frappe_message(response).splitlines() or [""])[0][:ERROR_TEXT_CHARS]
    exc_type = str(body.get("exc_type") or "") if isinstance(body, dict) else ""
    if exc_type and exc_type not in text:
        text = exc_type if text == f"HTTP {status}" else f"{exc_type}: {text}"
    if exc_type in DATABASE_ERRORS:
        text += " (an error of the site's database)"
    if status == 429:
        return f"ERPNext's rate limit: it answered 429 for {path}: {text}"
    return f"ERPNext answered {status} for {path}: {text}"


def _is_html(response: requests.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "") or response.content.lstrip()[:1] == b"<"


def decode_json(response: requests.Response) -> Any:
    """Parse a Frappe JSON answer; a login page, proxy page or garbage becomes a clear error, not a traceback."""
    path = urlsplit(response.url).path
    try:
        return orjson.loads(response.content)  # several times faster than response.json() on pages of records
    except ValueError:
        kind = "an HTML page (a login page or a proxy's error page?)" if _is_html(response) else "a body that is not JSON"
        message = (
            f"ERPNext answered {kind} with status {response.status_code} for {path}, where Frappe answers JSON. "
            "Check that the Site URL points at the ERPNext site itself."
        )
        raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error) from None


class FrappeErrorHandler(HttpStatusErrorHandler):
    """Maps Frappe's answers to retry / fail decisions with messages that say what to fix."""

    def __init__(self, logger: logging.Logger, doctype: Optional[str] = None, max_retries: Optional[int] = None, splittable: bool = False, refusals_answer: bool = False):
        super().__init__(logger, max_retries=MAX_RETRIES if max_retries is None else max_retries, max_time=MAX_RETRY_TIME)
        self._doctype = doctype
        self._splittable = splittable  # the caller splits a request refused for its length (SPLIT_REQUEST_WINDOW)
        self._refusals_answer = refusals_answer  # a 403 is an answer the caller reads (which DocTypes may be read)

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]] = None) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            return self._interpret_status(response_or_exception)
        if isinstance(response_or_exception, requests.exceptions.SSLError):
            return _fail(f"TLS/SSL error talking to the site ({_first_line(response_or_exception)}). Check the certificate of the Site URL.")
        if isinstance(response_or_exception, requests.exceptions.ConnectionError) and _is_dns_error(response_or_exception):
            return _fail(f"Could not resolve the host of the Site URL ({_host_of(response_or_exception)}). Check the Site URL for typos.")
        if isinstance(response_or_exception, requests.RequestException):
            return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, answer_of(response_or_exception))
        return super().interpret_response(response_or_exception)

    def _interpret_status(self, response: requests.Response) -> ErrorResolution:
        status = response.status_code
        path = urlsplit(response.url).path
        if response.ok:
            return ErrorResolution(ResponseAction.SUCCESS)
        if status == 429 and _retry_after(response) > MAX_RATE_LIMIT_WAIT:
            return _fail(_rate_limit_message(response), FailureType.transient_error)
        if status in RETRYABLE_STATUS:
            return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, answer_of(response))
        if status in (414, 431) or (status == 400 and TOO_LONG.search(body_text(response))):
            line = len(response.request.path_url) + len("GET  HTTP/1.1") if response.request else 0
            reason = f"{status}: {frappe_message(response)}; the request line was {line:,} bytes"
            if self._splittable:
                return ErrorResolution(ResponseAction.SPLIT_REQUEST_WINDOW, FailureType.system_error, reason)
            return _fail(
                f"The web server in front of ERPNext refused the request for {path} as too long ({reason}). If the config "
                "lists many warehouses, list fewer; else raise the server's limit (gunicorn --limit-request-line, nginx "
                "large_client_header_buffers).",
                FailureType.system_error,
            )
        if status == 401:
            return _fail(
                "ERPNext rejected the API key or secret (401 Unauthorized). Generate a new pair under "
                "User > Settings > API Access in ERPNext and paste both into the config."
            )
        if status == 403 and self._refusals_answer:
            return ErrorResolution(ResponseAction.IGNORE, FailureType.config_error, f"The API user may not read {unquote(path)} (403).")
        if status == 403 and not self._doctype:
            return _fail(
                f"ERPNext refused {path} (403: {frappe_message(response)}): it treated the request as Guest, so the API key "
                "and secret were not accepted. Check both values, and that the API user is enabled."
            )
        if status == 403:
            what = f"the DocType '{self._doctype}'" if self._doctype else path
            return _fail(
                f"The API user may not read {what} (403 Forbidden: {frappe_message(response)}). Give one of the user's "
                f"roles the Read permission on {self._doctype or 'it'} (Role Permission Manager), or "
                + ("turn off Replicate Deletions." if self._doctype == "Deleted Document" else "deselect the stream.")
            )
        if status == 404:
            if _is_html(response) or not self._doctype:
                return _fail(
                    f"{path} was not found (404): the Site URL does not look like a Frappe/ERPNext site. "
                    "Use the address of the site itself, e.g. https://erp.example.com."
                )
            return _fail(f"ERPNext has no DocType '{self._doctype}' (404: {frappe_message(response)}). Check the DocType name.")
        if status == 417:
            return _fail(
                f"ERPNext refused the query for {self._doctype or path} (417: {frappe_message(response)}). "
                "Check the filter settings (company, warehouses, start date) in the config."
            )
        return _fail(f"ERPNext answered {status} for {path}: {frappe_message(response)}", FailureType.system_error)


def refused(error: AirbyteTracedException) -> bool:
    """Whether a failed request was Frappe's 403: the API user has no role with Read on the DocType."""
    return error.failure_type == FailureType.config_error and "403" in (error.message or "")


def _fail(message: str, failure_type: FailureType = FailureType.config_error) -> ErrorResolution:
    return ErrorResolution(ResponseAction.FAIL, failure_type, message)


def _first_line(error: Exception) -> str:
    text = str(error)
    # urllib3 words a failed connection "...Max retries exceeded with url: <the whole URL> (Caused by <why>)": the why
    caused_by = re.search(r"\(Caused by (.*)\)\W*$", text, re.DOTALL)
    text = caused_by.group(1) if caused_by else text
    return text.splitlines()[0][:300] if text else type(error).__name__


def _is_dns_error(error: Exception) -> bool:
    text = repr(error)
    return any(marker in text for marker in ("NameResolutionError", "Name or service not known", "nodename nor servname", "getaddrinfo failed", "Temporary failure in name resolution"))


def _host_of(error: requests.RequestException) -> str:
    request = getattr(error, "request", None)
    return urlsplit(request.url).hostname if request is not None and request.url else "unknown host"


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else 0.0


def _rate_limit_message(response: requests.Response) -> str:
    wait = _retry_after(response)
    resets_at = datetime.now(timezone.utc) + timedelta(seconds=wait)
    allowed = response.headers.get("X-RateLimit-Limit", "")
    budget = f" (it allows {int(allowed) / 1e6:,.0f} s of server time per window)" if allowed.isdigit() else ""
    return (
        f"ERPNext's rate limit is used up{budget}: the site accepts requests again in {wait / 60:,.0f} minutes, at "
        f"{resets_at:%Y-%m-%d %H:%M} UTC. The sync stopped here with its progress saved; the next sync goes on from there. "
        "To stay within the limit: sync fewer streams or deselect columns, schedule syncs less often or at a quieter "
        "time, or raise the site's limit (rate_limit in site_config.json; on Frappe Cloud, a larger plan)."
    )


class RetryAfterBackoff(BackoffStrategy):
    """Honour Retry-After (429/503; longer waits stop the sync, see MAX_RATE_LIMIT_WAIT); otherwise exponential from
    1 s, capped. Logs each retry: the answer, the attempt and the wait (the CDK's own line calls every retry a rate
    limit, see _CdkRetryWording)."""

    def __init__(self, logger: Optional[logging.Logger] = None, max_retries: int = MAX_RETRIES) -> None:
        self._logger = logger or logging.getLogger("airbyte")
        self._max_retries = max_retries

    def backoff_time(self, response_or_exception, attempt_count: int) -> Optional[float]:
        if isinstance(response_or_exception, requests.Response) and _retry_after(response_or_exception):
            backoff = min(_retry_after(response_or_exception), MAX_RATE_LIMIT_WAIT)
        else:
            backoff = min(2.0 ** max(attempt_count - 1, 0), MAX_BACKOFF_SECONDS)
        if attempt_count <= self._max_retries:  # after the last attempt the CDK gives up: see LimitedHttpClient
            wait = backoff + 1  # the CDK sleeps a second more than asked (rate_limiting.user_defined_backoff_handler)
            self._logger.warning(
                f"{answer_of(response_or_exception)}. Attempt {attempt_count} of {self._max_retries + 1} failed; retrying in {wait:g} s."
            )
        return backoff


class _CdkRetryWording(logging.Filter):
    """Drops the CDK's "UserDefinedBackoffException: Rate limit exceeded (HTTP 500). Retrying in 2.0 seconds.": it words
    so every retry whose wait the source chooses, whatever the answer; RetryAfterBackoff logs the retry instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("UserDefinedBackoffException: Rate limit exceeded")


rate_limiting.logger.addFilter(_CdkRetryWording())


class RateLimitPacer:
    """Slows down before Frappe's rate limit is reached (frappe/rate_limiter.py). A site with `rate_limit` counts
    server time per window; each answer says how much was left when the request started (X-RateLimit-Remaining, µs),
    what the request cost (X-RateLimit-Used) and when the window resets (X-RateLimit-Reset, s). Once less than half
    is left, request starts are spaced so that what is left lasts until the reset (at most MAX_PACING_SECONDS apart)."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self._lock = threading.Lock()
        self._interval = 0.0  # seconds between request starts
        self._last_start = float("-inf")
        self._logger = logger or logging.getLogger("airbyte")

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        headers = response.headers
        try:
            limit, remaining = int(headers["X-RateLimit-Limit"]), int(headers["X-RateLimit-Remaining"])
            used, reset = int(headers.get("X-RateLimit-Used") or 0), float(headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        left = remaining - used
        # Nothing left: no point waiting, the next answer is a 429 that says how long (see MAX_RATE_LIMIT_WAIT).
        interval = 0.0 if left > limit / 2 or left <= 0 else min(MAX_PACING_SECONDS, reset * max(used, 1) / left)
        with self._lock:
            if interval and not self._interval:
                self._logger.info(f"ERPNext's rate limit: {left / max(limit, 1):.0%} of this window's server time is left; spacing requests to last until it resets in {reset:,.0f} s.")
            self._interval = interval

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = self._last_start = max(now, self._last_start + self._interval)
        if start > now:
            time.sleep(start - now)


class WholeBodyAdapter(HTTPAdapter):
    """Reads each response body in one piece, inside send(), where the CDK retries a read that fails. requests reads a
    body 10 KB at a time, and every read may hand the GIL to another thread: at 0 ms latency that made ~70% more
    thread switches and ~4% more CPU."""

    def send(self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any) -> requests.Response:
        response = super().send(request, stream=True, **kwargs)
        if not stream:
            # iter_content(None) reads to the end and raises requests' own errors (ChunkedEncodingError, ...).
            response._content = b"".join(response.iter_content(chunk_size=None))
        return response


class RequestLimiter:
    """Paced under the site's rate limit (RateLimitPacer), at most `limit` requests in flight across every stream and range of a run; and, in `pages`, at most
    `limit` pages of records fetched and not yet handed on (`pages_with_tables`: half as many of those read with several
    child tables), so that readers wait for the output instead of piling up decoded pages (at 0 ms latency the output
    is the bottleneck: without this bound, peak RSS was up to ~30 MB higher at 500k)."""

    def __init__(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self.pages = threading.BoundedSemaphore(limit)
        # A page whose child tables are read side by side keeps several requests in flight by itself, so half as many
        # such pages at once keep the slots busy; and they are most of a read's memory (500k documents with every
        # child table: peak RSS 131 MB instead of 161-168 MB, no slower at 50 ms latency).
        self.pages_with_tables = threading.BoundedSemaphore(max(1, (limit + 1) // 2))
        self.pacer = RateLimitPacer()

    def page_slots(self, child_tables: int) -> threading.BoundedSemaphore:
        return self.pages_with_tables if child_tables > 1 else self.pages

    def __enter__(self) -> None:
        self._slots.acquire()
        self.pacer.wait()

    def __exit__(self, *exc: Any) -> None:
        self._slots.release()


class LimitedHttpClient(HttpClient):
    """The CDK's client, holding one of the run's request slots while a request (retries included) is under way."""

    def __init__(self, *args: Any, limiter: Optional[RequestLimiter] = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._limiter = limiter or nullcontext()
        adapter = WholeBodyAdapter(pool_connections=MAX_CONNECTION_POOL_SIZE, pool_maxsize=MAX_CONNECTION_POOL_SIZE)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        if limiter:  # every answer, retried ones included, tells the pacer how much of the rate limit is left
            self._session.hooks["response"].append(limiter.pacer.observe)

    def send_request(self, *args: Any, **kwargs: Any) -> Any:
        with self._limiter:
            started = time.monotonic()
            try:
                return super().send_request(*args, **kwargs)
            except AirbyteTracedException as error:
                given_up = getattr(error, "_exception", None)  # what the CDK's retries ended with
                if not isinstance(given_up, BaseBackoffException):
                    raise
                # In place of the CDK's "Exhausted available request attempts. Please see logs...": how long, the last answer.
                message = (
                    f"Retried for {time.monotonic() - started:,.0f} s, then gave up; the last answer: {given_up}. What was "
                    "read until then is saved. Check the site's health (database, workers, proxy), or lower Concurrent Requests."
                )
                raise AirbyteTracedException(
                    message=message,
                    internal_message=message,
                    failure_type=error.failure_type,
                    exception=given_up,
                    stream_descriptor=StreamDescriptor(name=self.name),
                ) from None


def http_client(
    name: str,
    config: ErpnextConfig,
    logger: logging.Logger,
    doctype: Optional[str] = None,
    limiter: Optional[RequestLimiter] = None,
    max_retries: Optional[int] = None,
    splittable: bool = False,
    refusals_answer: bool = False,
) -> HttpClient:
    """The CDK's HTTP client with Frappe's auth, error mapping and backoff: used for every request the connector sends."""
    return LimitedHttpClient(
        limiter=limiter,
        name=name,
        logger=logger,
        error_handler=FrappeErrorHandler(logger, doctype, max_retries, splittable, refusals_answer),
        backoff_strategy=RetryAfterBackoff(logger, MAX_RETRIES if max_retries is None else max_retries),
        authenticator=authenticator(config),
        request_timeout=REQUEST_TIMEOUT,
    )


def get_json(client: HttpClient, config: ErpnextConfig, path: str, params: Optional[Mapping[str, Any]] = None) -> Any:
    """GET base_url/path and decode Frappe's JSON answer (errors raise AirbyteTracedException)."""
    _, response = client.send_request("GET", f"{config.base_url}/{path}", request_kwargs={}, params=dict(params or {}))
    return decode_json(response)

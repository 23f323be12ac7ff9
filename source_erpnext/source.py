"""The Airbyte source: spec, check (who am I, and can I read each DocType), and the streams."""

import json
import logging
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    ConnectorSpecification,
    FailureType,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import http  # http.MAX_RETRIES read at call time (tests lower it)
from .catalog import doctypes_named, in_parallel, readable_doctypes
from .concurrency import read_streams_concurrently
from .doctypes import STANDARD_DOCTYPES, DocType, configured_doctypes
from .http import CHECK_RETRIES, RequestLimiter, get_json, http_client, refused
from .indexes import frappe_major
from .site_time import AskedOnce, fetch_time_zone, system_time_zone
from .spec import DOCUMENTATION_URL, ErpnextConfig, parse_config
from .streams import DocTypeStream


class SourceErpnext(AbstractSource):
    def __init__(self) -> None:
        super().__init__()
        self._limiter: Optional[RequestLimiter] = None  # one per run: every stream's requests share its slots
        self._from_catalog: List[DocType] = []  # DocTypes a configured catalog names beyond the configured ones
        self._site_zone: Optional[AskedOnce] = None  # one per run: the site's time zone, asked once
        self._frappe_major: Optional[AskedOnce] = None  # and its Frappe version

    @property
    def raise_exception_on_missing_stream(self) -> bool:
        return True  # a catalog naming a stream we do not have is an error, not a silent skip

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(documentationUrl=DOCUMENTATION_URL, connectionSpecification=ErpnextConfig.airbyte_spec())

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # The CDK's check shows repr(message), quotes and all; the operator should read plain text.
        succeeded, message = self.check_connection(logger, config)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED if succeeded else Status.FAILED, message=message)

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Tuple[bool, Optional[Any]]:
        try:
            settings = parse_config(config)
            user = self._logged_user(settings, logger)
            unreadable = [stream.doctype for stream, _ in self._unreadable(self.streams(config))]
            problems = []
            if unreadable:
                problems.append(
                    f"The API user {user} may not read {', '.join(unreadable)}. Give one of the user's roles the Read "
                    "permission on these DocTypes (Role Permission Manager in ERPNext)."
                )
            if settings.sync_deletions and not self._may_read_deletions(config):
                problems.append(
                    f"The API user {user} may not read Deleted Document, which Replicate Deletions (on) needs: a standard "
                    "installation lets only System Manager read it. Give one of the user's roles the Read permission on "
                    "Deleted Document (Role Permission Manager), or turn Replicate Deletions off."
                )
            if not self._may_read_time_zone(settings, logger):
                # Only System Manager may read System Settings in a standard ERPNext: syncs fall back to the zone
                # frappe.client.get_time_zone reports (any user), so this is worth saying, not failing for.
                logger.warning(
                    f"The API user {user} may not read System Settings, whose Time Zone ERPNext writes `modified` in: "
                    "syncs take the zone ERPNext reports for the user instead (the site's, unless the user's own "
                    "record sets another), which is right for most sites. To be sure daylight-saving changes are "
                    "handled in the site's zone, give one of the user's roles the Read permission on System Settings "
                    "(Role Permission Manager)."
                )
            if problems:
                return False, " ".join(problems)
            logger.info(f"Connected to {settings.base_url} as {user}.")
            return True, None
        except AirbyteTracedException as error:
            if error.failure_type != FailureType.config_error:
                raise  # a site that is down is not a wrong config: the CDK reports it as a transient error
            return False, error.message

    @staticmethod
    def _logged_user(settings: ErpnextConfig, logger: logging.Logger) -> str:
        """Who the key and secret log in as; a config error when they are not accepted."""
        client = http_client("check", settings, logger, max_retries=min(CHECK_RETRIES, http.MAX_RETRIES))
        answer = get_json(client, settings, "api/method/frappe.auth.get_logged_user")
        user = answer.get("message") if isinstance(answer, dict) else None
        if not user or user == "Guest":
            message = "ERPNext did not accept the API key and secret as a user (it answered as Guest). Check both values."
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
        return user

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        """The configured streams (the standard ones first, then the additional DocTypes), then every other DocType the
        API user may read, each with its schema from the site's metadata; metadata requests run concurrently."""
        settings = parse_config(config)
        self._logged_user(settings, logger)  # wrong credentials fail discover instead of yielding bundled schemas
        streams = self.streams(config)
        in_parallel(lambda stream: stream.meta, streams, settings.max_concurrency)
        for stream, error in self._unreadable(streams, only_refusals=False):  # say which DocTypes cannot be read, and why
            logger.warning(f"Stream {stream.name}: {error.message}")
        known, taken = {stream.doctype for stream in streams}, {stream.name for stream in streams}
        for doctype, meta in readable_doctypes(settings, logger, self._limiter, known, taken):
            stream = DocTypeStream(doctype, settings, self._limiter, standard=False)
            stream.meta = meta  # read above: the stream does not ask again
            streams.append(stream)
        logger.info(f"Discovered {len(streams)} streams.")
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams])

    def _unreadable(self, streams: List[DocTypeStream], only_refusals: bool = True) -> List[Tuple[DocTypeStream, AirbyteTracedException]]:
        """The streams whose DocType cannot be read, with the error: 403 refusals (other failures are raised), or,
        with only_refusals=False, every failure."""
        failed = []
        for stream in streams:
            try:
                stream.check_read_permission()
            except AirbyteTracedException as error:
                if only_refusals and not refused(error):
                    raise
                failed.append((stream, error))
        return failed

    def _may_read_deletions(self, config: Mapping[str, Any]) -> bool:
        """Whether the Deleted Document log, which incremental reads need when deletions are replicated, is readable."""
        try:
            self.streams(config)[0].check_deletions_permission()
            return True
        except AirbyteTracedException as error:
            if refused(error):
                return False
            raise

    @staticmethod
    def _may_read_time_zone(settings: ErpnextConfig, logger: logging.Logger) -> bool:
        try:
            system_time_zone(http_client("check", settings, logger, "System Settings", max_retries=min(CHECK_RETRIES, http.MAX_RETRIES)), settings)
            return True
        except AirbyteTracedException as error:
            if refused(error):
                return False
            raise

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        """The saved stream states this connector can read; an entry of another shape restarts its stream, with a warning."""
        if not state_path:
            return []
        try:
            saved = json.loads(Path(state_path).read_text() or "null")
        except ValueError:
            message = f"The state file {state_path} is not JSON. Reset the connection's state, or fix the file."
            raise AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error) from None
        entries = saved if isinstance(saved, list) else [saved] if saved else []
        states = []
        for entry in entries:
            try:
                message = AirbyteStateMessageSerializer.load(entry)
                if not isinstance(message.stream.stream_state, AirbyteStateBlob):
                    raise TypeError("stream_state is not an object")
                states.append(message)
            except Exception:
                logging.getLogger("airbyte").warning(
                    f"Ignoring a saved state this connector cannot read ({json.dumps(entry, default=str)[:200]}); "
                    "its stream, if any, is read from the beginning."
                )
        return states

    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        settings = parse_config(config)
        self._limiter = self._limiter or RequestLimiter(settings.max_concurrency)
        if self._site_zone is None:
            logger = logging.getLogger("airbyte")
            client = http_client("time zone", settings, logger, "System Settings", self._limiter)
            self._site_zone = AskedOnce(lambda: fetch_time_zone(client, settings, logger))
            versions = http_client("versions", settings, logger, limiter=self._limiter)
            self._frappe_major = AskedOnce(lambda: frappe_major(versions, settings, logger))
        standard = {d.doctype for d in STANDARD_DOCTYPES}
        doctypes = configured_doctypes(settings)
        doctypes += [d for d in self._from_catalog if d.stream not in {c.stream for c in doctypes}]
        return [DocTypeStream(d, settings, self._limiter, d.doctype in standard, self._site_zone, self._frappe_major) for d in doctypes]

    def read(self, logger: logging.Logger, config: Mapping[str, Any], catalog: ConfiguredAirbyteCatalog, state: Optional[List[AirbyteStateMessage]] = None) -> Iterator[AirbyteMessage]:
        # A discovered stream is read from the catalog alone: its DocType is looked up in the site's DocType list (one
        # request, and only when the catalog names a stream that is neither standard nor additional).
        settings = parse_config(config)
        self._limiter = self._limiter or RequestLimiter(settings.max_concurrency)
        configured = {d.stream for d in configured_doctypes(settings)}
        self._from_catalog = doctypes_named({s.stream.name for s in catalog.streams} - configured, settings, logger, self._limiter)
        workers = settings.max_concurrency
        if workers < 2 or len(catalog.streams) < 2:
            yield from super().read(logger, config, catalog, state)
            return

        def read_one(stream: ConfiguredAirbyteStream) -> Iterator[AirbyteMessage]:
            return AbstractSource.read(self, logger, config, ConfiguredAirbyteCatalog(streams=[stream]), state)

        yield from read_streams_concurrently(read_one, catalog.streams, workers)

"""The Airbyte source: spec, check (who am I, and can I read each DocType), and the streams."""

import json
import logging
from typing import Any, List, Mapping, Optional, Tuple

from airbyte_cdk.models import ConnectorSpecification
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .doctypes import STANDARD_DOCTYPES, configured_doctypes
from .http import get_json, http_client
from .spec import DOCUMENTATION_URL, ErpnextConfig, parse_config
from .streams import DocTypeStream, PageSizeProbe


class SourceErpnext(AbstractSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(documentationUrl=DOCUMENTATION_URL, connectionSpecification=ErpnextConfig.airbyte_spec())

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Tuple[bool, Optional[Any]]:
        try:
            settings = parse_config(config)
            answer = get_json(http_client("check", settings, logger), settings, "api/method/frappe.auth.get_logged_user")
            user = answer.get("message") if isinstance(answer, dict) else None
            if not user or user == "Guest":
                return False, "ERPNext did not accept the API key and secret as a user (it answered as Guest). Check both values."
            for stream in self.streams(config):
                stream.check_read_permission()
            logger.info(f"Connected to {settings.base_url} as {user}.")
            return True, None
        except AirbyteTracedException as error:
            return False, error.message

    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        settings = parse_config(config)
        probe = PageSizeProbe()
        standard = {d.doctype for d in STANDARD_DOCTYPES}
        return [DocTypeStream(d, settings, probe, standard=d.doctype in standard) for d in configured_doctypes(settings)]

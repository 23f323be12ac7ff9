"""A stream's saved state, as positions per scan (plan.py):

- `modified` (+ `name`): every document modified before it has been read (incremental);
- `first_sync`: a first sync over `creation` under way: its work left, and the `modified` it then goes on from;
- `full_refresh` (+ `key`): a resumable full refresh's work left, or FULL_REFRESH_COMPLETE once it is done;
- `deletions`: the position in the Deleted Document log.

A state this connector did not write restarts its stream, with a warning."""

import json
import logging
from typing import Any, Dict, Mapping

from airbyte_cdk.models import AirbyteMessage, AirbyteStateBlob, AirbyteStateMessage, AirbyteStateType, AirbyteStreamState, StreamDescriptor
from airbyte_cdk.models import Type as MessageType

from .concurrency import saved_work
from .keyset import CREATION, MODIFIED, saved_position

FULL_REFRESH_COMPLETE = "__ab_full_refresh_sync_complete"  # airbyte-cdk's mark of a finished resumable full refresh


def valid_state(value: Any, stream: str, key: str, deletions_key: str, logger: logging.Logger) -> Dict[str, Any]:
    """What is usable of a saved state for a stream whose pages go over `key` and deletions over `deletions_key`."""
    if not value:
        return {}
    try:
        # A position (incremental) wins over full-refresh progress, which a stream switched to incremental may keep.
        if not value.get("modified") and value.get(FULL_REFRESH_COMPLETE) is True:
            return {FULL_REFRESH_COMPLETE: True}
        if not value.get("modified") and "full_refresh" in value:
            if value.get("key", MODIFIED) != key:  # the site's indexes changed between two attempts: start again
                return {}
            return {"full_refresh": saved_work(value["full_refresh"], key), "key": key}
        if not value.get("modified") and "first_sync" in value:
            first = value["first_sync"]
            state = {"first_sync": {"work": saved_work(first["work"], CREATION), "modified": saved_position(first).get("modified")}}
        else:
            state = saved_position(value)
        if "deletions" in value:
            saved = value["deletions"]  # a position over `modified`, saved before the site moved to Frappe 16, serves as one over `creation`
            state["deletions"] = saved_position(saved, deletions_key) or saved_position({deletions_key: saved.get(MODIFIED), "name": saved.get("name")}, deletions_key)
        if state:
            return state
    except (TypeError, KeyError, ValueError, AttributeError):
        pass
    logger.warning(f"Stream {stream}: the saved state {json.dumps(value, default=str)[:200]} is not one this connector wrote; reading the stream from the beginning.")
    return {}


def state_message(stream: str, state: Mapping[str, Any]) -> AirbyteMessage:
    return AirbyteMessage(
        type=MessageType.STATE,
        state=AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(**state)),
        ),
    )

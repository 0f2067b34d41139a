"""After a document's manifest is written: its input moved away, if configured."""

from __future__ import annotations

import structlog

from watcher.manifest import Status
from watcher.settings import InputAction, Settings
from watcher.storage import NotFound, ObjectInfo, PreconditionFailed, Storage

log = structlog.get_logger("docwatch")


def move_input(source: Storage, settings: Settings, item: ObjectInfo, status: Status) -> None:
    """Move the input away once its manifest is written, if configured: only the version
    that was converted (its etag), so a newer upload of the key stays and is converted."""
    action, prefix = (
        (settings.on_success, settings.done_prefix)
        if status is Status.SUCCEEDED
        else (settings.on_failure, settings.failed_prefix)
    )
    if action is not InputAction.MOVE:
        return
    dest = f"{prefix.rstrip('/')}/{item.key}"
    try:
        source.copy(item.key, dest, etag=item.etag)
        source.delete(item.key, etag=item.etag)
        log.info("input.moved", key=item.key, to=dest)
    except PreconditionFailed:
        log.warning("input.move_skipped", key=item.key, to=dest,
                    reason="a newer version of the input arrived during the conversion; it stays and is converted")
    except NotFound:
        log.warning("input.move_skipped", key=item.key, to=dest, reason="the input is gone")
    except Exception as exc:  # noqa: BLE001 - the result is safe; the input stays where it was
        log.error("input.move_failed", key=item.key, error=str(exc))

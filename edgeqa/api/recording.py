"""GET /v1/calls/{id}/recording: a call's stereo WAV (customer left, agent right), seekable.

Admin, or a supervisor whose scope has the call (edgeqa.api.access). Every download is
audited (recording.downloaded, with the Range asked) before the file is sent.
"""

from __future__ import annotations

import time

from aiohttp import web

from edgeqa.api.access import AUTH_KEY, principal_of
from edgeqa.api.errors import json_error
from edgeqa.api.keys import RECORDINGS_KEY
from edgeqa.audit.model import RECORDING_DOWNLOADED, AuditEntry
from edgeqa.recording.stereo import ExportError

#: HTTP status per ExportError kind: 409 while a leg is still recording (retry after the call).
STATUS_OF = {"unknown": 404, "unusable": 404, "in_progress": 409, "output": 503}
ERROR_OF = {"unknown": "not_found", "unusable": "no_recording", "in_progress": "recording",
            "output": "unavailable"}


async def recording_handler(request: web.Request) -> web.StreamResponse:
    """Serve a call's stereo WAV with Range support (FileResponse: 206, 416, If-Range).

    404 if the call has no complete recording, 409 while it is being recorded, 503 if recording
    is off or the cache cannot be written; audited first (see the module docstring).
    """
    cache = request.app.get(RECORDINGS_KEY)
    call_id = request.match_info["call_id"]
    if cache is None:
        return json_error(404, "not_found", "recording is not enabled on this daemon")
    try:
        path = await cache.stereo(call_id)
    except ExportError as exc:
        return json_error(STATUS_OF.get(exc.kind, 500), ERROR_OF.get(exc.kind, "error"),
                          str(exc))
    except ValueError as exc:  # an id that cannot name a file
        return json_error(404, "not_found", str(exc))
    await request.app[AUTH_KEY].store.put_audit(AuditEntry(
        time.time(), principal_of(request).actor, RECORDING_DOWNLOADED, call_id,
        {"range": request.headers.get("Range")}, source=request.remote or None))
    return web.FileResponse(path, headers={
        "Content-Type": "audio/wav",
        "Content-Disposition": f'attachment; filename="{call_id}-stereo.wav"',
    })

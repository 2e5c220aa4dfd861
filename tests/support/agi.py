"""A FastAGI server in the test process on the sandbox's AGI port (SandboxPorts.agi: the
dialplan's ${EDGEQA_AGI_PORT}), and a trivial spy handler for the feature codes.

The trivial handler is NOT edgeqa's spy service (edgeqa/spy/ decides, checks PINs and caps):
it spies on ``PJSIP/agent<digits>-`` with ChanSpy in the code's mode, announcing the options
with the UserEvent the call tracker reads (calls/placement.py), so tests of other parts can
place a real supervisor leg by dialling a code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from edgeqa.agi import AgiHandler, AgiServer, AgiSession
from edgeqa.sandbox.pbx import Sandbox

SPY_OPTIONS = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}


async def trivial_spy(session: AgiSession) -> None:
    """``spy,<mode>,<digits>``: ChanSpy on agent<digits> (for tests; no policy)."""
    mode, digits = session.request.args[:2]
    options = SPY_OPTIONS[mode]
    await session.exec("UserEvent", "EdgeqaSpy", f"Agent: {digits}", f"Options: {options}")
    await session.exec("ChanSpy", f"PJSIP/agent{digits}-", options)


@asynccontextmanager
async def agi_server(sandbox: Sandbox,
                     routes: Mapping[str, AgiHandler]) -> AsyncIterator[AgiServer]:
    """Serve ``routes`` on the sandbox's AGI port for the block."""
    server = AgiServer(routes)
    await server.start("127.0.0.1", sandbox.ports.agi)
    try:
        yield server
    finally:
        await server.stop()

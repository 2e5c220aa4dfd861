"""Integration fixtures: one real Asterisk 22 sandbox per session, and pjsua2 softphones.

Port base: $EDGEQA_SANDBOX_PORT_BASE (default 15000); the instance is named ``b<base>`` so that
sessions with different bases share the cached rootfs. Under CI (CI=true) a sandbox that cannot
be built or started fails the tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from edgeqa.sandbox.demo.daemon_proc import DaemonProcess
from edgeqa.sandbox.demo.stream_client import StreamCollector
from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.pbx import Sandbox
from edgeqa.sandbox.softphone import Softphone
from tests.support.daemon import admin_token, make_daemon
from tests.support.phones import SoftphoneFactory
from tests.support.schemas import EnvelopeChecker
from tests.support.unavailable import unavailable


def _unavailable(reason: str) -> None:
    unavailable(f"the sandbox: {reason}")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """A running sandbox (built if needed); stopped at the end of the session."""
    try:
        box = Sandbox()
        box.build()
        if box.pid() is not None:  # left behind by a session that was killed: replace it
            warnings.warn(f"stopping a leftover sandbox {box.name} (pid {box.pid()})",
                          stacklevel=1)
            box.stop()
        box.start()
    except SandboxError as exc:
        _unavailable(str(exc))
        raise AssertionError("unreachable") from exc
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture
def running_sandbox(sandbox: Sandbox) -> Sandbox:
    """The session sandbox, restarted first if an earlier test stopped or killed it."""
    if sandbox.pid() is None:
        sandbox.start()
    return sandbox



@pytest.fixture
def softphone(running_sandbox: Sandbox, tmp_path: Path) -> Iterator[SoftphoneFactory]:
    """Factory ``softphone(name, auto_answer=False, register=True) -> Softphone``.

    ``name`` is a sandbox endpoint (customer1..3, agent1..3, agent10, supervisor1..3); every
    phone is stopped after the test. Worker logs go to the test's tmp_path.
    """
    phones: list[Softphone] = []

    def make(name: str, *, auto_answer: bool = False, register: bool = True,
             register_timeout_s: float = 10.0) -> Softphone:
        phone = Softphone.for_sandbox(running_sandbox, name, auto_answer=auto_answer,
                                      log_dir=tmp_path)
        phones.append(phone)
        if register:
            phone.register(register_timeout_s)
        return phone

    yield make
    for phone in phones:
        phone.request_stop()
    for phone in phones:
        phone.stop()


@pytest.fixture
def daemon(running_sandbox: Sandbox, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A started, connected daemon on a fresh store; it must exit 0 on SIGTERM."""
    proc = make_daemon(running_sandbox, tmp_path)
    proc.start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        status = proc.stop()
    assert status == 0, proc.log()


@pytest_asyncio.fixture
async def collect() -> AsyncIterator[Callable[..., StreamCollector]]:
    """Factory of stream consumers; each runs as a task, cancelled after the test.

    ``token``: the daemon's local admin token unless given. Every envelope received is
    validated against schemas/ (envelope, and payload against the
    schema it names); the test fails at teardown if one did not fit.
    """
    tasks: list[asyncio.Task[None]] = []
    checker = EnvelopeChecker()

    def start(api_url: str, after: int | None = 0, token: str | None = None) -> StreamCollector:
        col = StreamCollector(api_url, after=after, on_event=checker,
                              token=token if token is not None else admin_token(api_url))
        tasks.append(asyncio.create_task(col.run()))
        return col

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    checker.assert_clean()

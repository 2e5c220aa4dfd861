"""Sandbox port plan: fixed offsets from one base, env parsing, no overlap between users."""

from __future__ import annotations

import pytest

from edgeqa.sandbox.errors import SandboxError
from edgeqa.sandbox.ports import MAX_PHONES, SandboxPorts


def test_offsets_from_base() -> None:
    ports = SandboxPorts.from_base(16000)
    assert (ports.ami, ports.http, ports.sip) == (16038, 16088, 16060)
    assert (ports.rtp_start, ports.rtp_end) == (16100, 16299)
    assert ports.listening() == (("tcp", 16038), ("tcp", 16088), ("udp", 16060))


def test_env_default_and_override() -> None:
    assert SandboxPorts.from_env({}).base == 15000
    assert SandboxPorts.from_env({"EDGEQA_SANDBOX_PORT_BASE": " 17000 "}).ami == 17038


@pytest.mark.parametrize("raw", ["abc", "15000.5", "0x10"])
def test_env_rejects_non_integers(raw: str) -> None:
    with pytest.raises(SandboxError, match="EDGEQA_SANDBOX_PORT_BASE"):
        SandboxPorts.from_env({"EDGEQA_SANDBOX_PORT_BASE": raw})


@pytest.mark.parametrize("base", [0, 1023, 64536, 70000])
def test_base_out_of_range(base: int) -> None:
    with pytest.raises(SandboxError, match="out of range"):
        SandboxPorts.from_base(base)


def test_phone_ports_stay_inside_the_block_and_off_asterisk() -> None:
    ports = SandboxPorts.from_base(15000)
    asterisk = {ports.ami, ports.http, ports.sip, *range(ports.rtp_start, ports.rtp_end + 1)}
    used: set[int] = set()
    for i in range(MAX_PHONES):
        phone = {ports.phone_sip(i), *range(ports.phone_rtp(i), ports.phone_rtp(i) + 10)}
        assert not phone & asterisk and not phone & used
        assert all(15000 <= p < 16000 for p in phone)
        used |= phone
    with pytest.raises(SandboxError, match="phone index"):
        ports.phone_sip(MAX_PHONES)


def test_blocks_of_neighbouring_engineers_do_not_overlap() -> None:
    def block(base: int) -> set[int]:
        p = SandboxPorts.from_base(base)
        return {p.ami, p.http, p.sip, *range(p.rtp_start, p.rtp_end + 1),
                *range(p.phone_sip(0), p.phone_rtp(MAX_PHONES - 1) + 10)}

    blocks = [block(b) for b in (15000, 16000, 17000, 18000)]
    for i, a in enumerate(blocks):
        for b in blocks[i + 1:]:
            assert not a & b


def test_load_plan_fits_60_tapped_calls_and_stays_off_the_daemon() -> None:
    ports = SandboxPorts.for_load(20000)
    plain = SandboxPorts.from_base(20000)
    assert (ports.ami, ports.http, ports.sip) == (plain.ami, plain.http, plain.sip)
    instances = (ports.rtp_end - ports.rtp_start + 1) // 2  # one even port each (RTCP: odd)
    assert instances >= 60 * 4
    assert ports.rtp_end < ports.load_sipp() < 20950  # the daemon's API port (tests/support)

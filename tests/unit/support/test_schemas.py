"""The stream checker the integration collectors use: it sees every envelope and can fail."""

from __future__ import annotations

import pytest

from tests.support.schemas import EnvelopeChecker


def test_checker_keeps_each_invalid_envelope_and_fails_on_it() -> None:
    checker = EnvelopeChecker()
    checker({"seq": 1, "type": "daemon.stopping", "at": 1.0, "schema": "daemon.stopping.v1",
             "data": {"reason": "signal"}})
    checker.assert_clean()
    checker({"seq": 2, "type": "daemon.stopping", "at": 2.0, "schema": "daemon.stopping.v1",
             "data": {}})
    checker({"seq": 3, "type": "daemon.stopping", "at": "late", "schema": "daemon.stopping.v1",
             "data": {"reason": "signal"}})
    assert checker.checked == 3
    with pytest.raises(AssertionError) as raised:
        checker.assert_clean()
    message = str(raised.value)
    assert "seq 2 daemon.stopping: data: missing 'reason'" in message
    assert "seq 3 daemon.stopping: $.at: 'late' is not of type 'number'" in message

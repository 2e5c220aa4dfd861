"""The exceptions of the AMI layer: protocol faults, action failures and link failures."""

from __future__ import annotations


class AmiProtocolError(Exception):
    """The peer sent bytes that are not AMI, or more than the codec's buffer cap allows."""


class AmiInjectionError(ValueError):
    """A name or value for an action could smuggle lines (CR, LF, NUL): rejected, never cleaned."""


class AmiError(Exception):
    """Base class of the client's errors."""


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; ``message`` is its ``Message`` header."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI action {action} failed: {message}")
        self.action = action
        self.message = message


class AmiDisconnectedError(AmiError):
    """The link dropped with the action in flight: it may or may not have run; never replayed."""


class AmiNotConnectedError(AmiDisconnectedError):
    """The action was not sent at all, because no session was up."""


class AmiTimeoutError(AmiError, TimeoutError):
    """No complete answer within the timeout: the action may still run; never replayed."""


class AmiOverloadError(AmiError):
    """A named limit (actions in flight, events of one list action) would be exceeded."""


class AmiAuthenticationError(AmiError):
    """Fatal: Asterisk rejected the username or secret; the client does not retry."""

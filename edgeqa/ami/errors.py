"""The exceptions of the AMI layer: protocol faults, action failures and link failures."""

from __future__ import annotations


class AmiProtocolError(Exception):
    """The peer sent bytes that are not AMI, or more than the codec's buffer cap allows."""


class AmiMessageRejected(AmiProtocolError):
    """One complete message over a named limit, dropped unparsed; the connection goes on.

    ``action_id`` is the message's ActionID when it has one: that action then fails with this.
    """

    def __init__(self, message: str, *, action_id: str | None = None) -> None:
        super().__init__(message)
        self.action_id = action_id

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, AmiMessageRejected) and other.args == self.args
                and other.action_id == self.action_id)

    __hash__ = AmiProtocolError.__hash__


class AmiInjectionError(ValueError):
    """A name or value for an action holds a control character or surrogate: rejected, never
    cleaned (CR, LF and NUL would smuggle lines; the rest reach logs and consoles)."""


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

"""The call model: a pure tracker of calls, legs, queues and agents from AMI and ARI events.

``CallTracker`` returns ``Event(type, at, data)``; ``data`` is JSON-ready and follows
``schemas/<type>.v1.json`` (JSON Schema 2020-12):

- ``call.started`` / ``call.updated`` / ``call.ended``: ``{"call": Call}``.  A call is keyed by
  the Linkedid of its first leg and announced once it dials, queues or bridges; ``updated`` on a
  change of state (new/queued/connected), queue, agent, hold, transfer or supervisor count;
  ``ended`` when its last non-supervisor leg hangs up, or is swept by a resync or ``sweep()``.
  A blind transfer keeps the call; an attended transfer merges the consultation call into the
  call that started first (the consultation ends, its live legs move over).
- ``leg.added`` / ``leg.updated`` / ``leg.removed``: ``{"call_id", "leg": Channel}``.  Roles:
  customer (the caller), agent (a queue member, from AgentConnect or a dialled member device),
  callee (any other dialled party), supervisor (a real ChanSpy spyer; never ``Snoop/``),
  unknown.  ``Local/`` halves and media helpers (Snoop, UnicastRTP, ...) are never legs.
  A leg that hung up has state ``hungup`` and the hang-up cause if AMI/ARI gave one.  Holds
  (AMI Hold/Unhold, ARI ChannelHold/ChannelUnhold) are intervals: ``holds``, ``hold_s``.
- ``queue.updated``: ``{"queue": Queue}`` with members and waiting callers (a caller whose
  agent answered is no longer waiting); ``completed`` counts AgentComplete events, and is
  replaced by QueueStatus' ``Completed`` on a resync.
- ``queue.caller_joined`` / ``queue.caller_left``: ``{"queue", "caller"}`` (+ ``reason``:
  left/abandoned/hangup/swept and ``waited_s`` on leaving).
- ``agent.updated``: ``{"agent": Agent}``: one interface across its queues, and its current call.
"""

from edgeqa.calls.model import EVENT_TYPES, ROLES
from edgeqa.calls.tracker import CallTracker

__all__ = ["EVENT_TYPES", "ROLES", "CallTracker"]

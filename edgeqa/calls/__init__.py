"""The call model: a pure tracker of calls, channels, queues and agents from AMI and ARI events.

``CallTracker`` returns ``edgeqa.store.records.Event(type, at, data)``; ``data`` is JSON-ready
and follows ``schemas/<store.schema_name(type)>.json`` (JSON Schema 2020-12):

- ``call.started`` / ``call.updated`` / ``call.ended`` (v2): ``{"call": Call}``, the call with
  its ``channels``.  A call is keyed by the Linkedid of its first channel and announced once it
  dials, queues or bridges; ``updated`` on a change of state (new/queued/connected), queue,
  agent, hold, transfer or supervisor count; ``ended`` when its last non-supervisor channel
  hangs up, or is swept by a resync or ``sweep()``.  A blind transfer keeps the call; an
  attended transfer merges the consultation call into the call that started first (the
  consultation ends, its live channels move over).
- ``leg.added`` / ``leg.updated`` / ``leg.removed`` (v2): ``{"call_id", "leg": <role>,
  "channel": Channel}``.  Roles (a channel's leg): customer (the caller), agent (a queue
  member, from AgentConnect or a dialled member device), callee (any other dialled party),
  supervisor (a real ChanSpy spyer; never ``Snoop/``), unknown.  ``Local/`` halves and media
  helpers (Snoop, UnicastRTP, ...) are never channels of a call.  A channel that hung up has
  state ``hungup`` and the hang-up cause if AMI/ARI gave one.  Holds (AMI Hold/Unhold, ARI
  ChannelHold/ChannelUnhold) are intervals: ``holds``, ``hold_s``.
- ``queue.updated``: ``{"queue": Queue}`` with members and waiting callers (a caller whose
  agent answered is no longer waiting); ``completed`` counts AgentComplete events, and is
  replaced by QueueStatus' ``Completed`` on a resync.
- ``queue.caller_joined`` / ``queue.caller_left``: ``{"queue", "caller"}`` (+ ``reason``:
  left/abandoned/hangup/swept and ``waited_s`` on leaving).
- ``agent.updated``: ``{"agent": Agent}``: one interface across its queues, and its current call.

``CallTracker.drain_changes()`` hands the typed call changes (``calls.changes``) to live/.
Modules: ``model`` (data), ``state`` (the one state object), ``channels``, ``holds``,
``queue_calls`` + ``queues``, ``placement``, ``transfers`` (collaborators on that state),
``tracker`` (the dispatch tables), ``changes``, ``resyncer`` (the async resync step).
"""

from edgeqa.calls.model import EVENT_TYPES, ROLES
from edgeqa.calls.tracker import CallTracker

__all__ = ["EVENT_TYPES", "ROLES", "CallTracker"]

"""The pure retention policy: closed rows past their queue's retention, never a legal hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from edgeqa.config import parse_config
from edgeqa.recording.model import STATES
from edgeqa.recording.retention import DAY_S, Policy, due

ENV = {"EDGEQA_AMI_SECRET": "a", "EDGEQA_ARI_PASSWORD": "b"}
NOW = 1_800_000_000.0


def _row(call_id: str, *, state: str = "complete", queue: str | None = "sales",
         age_days: float = 40.0, ended: bool = True) -> dict[str, Any]:
    end = NOW - age_days * DAY_S
    return {"call_id": call_id, "leg": "customer", "path": f"/r/{call_id}.wav", "state": state,
            "queue": queue, "started_at": end - 60, "ended_at": end if ended else None}


def _policy(text: str) -> Policy:
    return Policy.of(parse_config(f"[recording]\n{text}", env=ENV).recording)


def test_global_retention_with_a_queue_override() -> None:
    policy = _policy('retention_days = 30\n[recording.queue_retention_days]\nsupport = 7\n')
    rows = [_row("old"), _row("young", age_days=29), _row("support", queue="support",
                                                          age_days=8),
            _row("support-young", queue="support", age_days=6), _row("noq", queue=None)]
    found = due(rows, policy, held=(), now=NOW)
    assert [(d.row["call_id"], d.reason) for d in found] == [
        ("old", "retention: older than 30 days (global)"),
        ("support", "retention: older than 7 days (queue support)"),
        ("noq", "retention: older than 30 days (global)")]
    assert policy.shortest_days == 7 and policy.active


def test_only_queues_with_a_retention_are_purged_without_a_global_one() -> None:
    policy = _policy('[recording.queue_retention_days]\n"sales team" = 1\n')
    rows = [_row("a", queue="sales team"), _row("b", queue="other"), _row("c", queue=None)]
    assert [d.row["call_id"] for d in due(rows, policy, (), NOW)] == ["a"]
    assert due(rows, _policy(""), (), NOW) == [] and not _policy("").active


def test_legal_hold_open_rows_deleted_rows_and_the_limit() -> None:
    policy = _policy("retention_days = 1\n")
    rows = [_row("held"), _row("rec", state="recording"), _row("gone", state="deleted"),
            _row("missing", state="missing"), _row("corrupt", state="corrupt"),
            _row("start-only", ended=False, age_days=2), _row("a"), _row("b")]
    assert [d.row["call_id"] for d in due(rows, policy, {"held"}, NOW)] == [
        "missing", "corrupt", "start-only", "a", "b"]
    assert [d.row["call_id"] for d in due(rows, policy, {"held"}, NOW, limit=2)] == [
        "missing", "corrupt"]


def test_the_age_is_counted_from_the_end_of_the_call() -> None:
    policy = _policy("retention_days = 1\n")
    row = _row("long", age_days=0.5)
    row["started_at"] = NOW - 3 * DAY_S  # a long call that started 3 days ago, ended 12 h ago
    assert due([row], policy, (), NOW) == []
    assert len(due([row], policy, (), NOW + 0.5 * DAY_S + 1)) == 1


@given(rows=st.lists(st.fixed_dictionaries({
    "call_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
    "leg": st.just("agent"), "path": st.just("/x"),
    "state": st.sampled_from(STATES),
    "queue": st.sampled_from([None, "sales", "support"]),
    "started_at": st.floats(NOW - 100 * DAY_S, NOW),
    "ended_at": st.none() | st.floats(NOW - 100 * DAY_S, NOW)}), max_size=30),
    held=st.sets(st.sampled_from(["c1", "c2", "c3", "c4"])),
    days=st.none() | st.floats(0.01, 90), support=st.none() | st.floats(0.01, 90),
    limit=st.integers(1, 40))
def test_never_a_held_call_or_an_open_row_and_exactly_the_old_ones(
        rows: list[dict[str, Any]], held: set[str], days: float | None,
        support: float | None, limit: int) -> None:
    policy = Policy(days, {"support": support} if support is not None else {})
    found = due(rows, policy, held, NOW, limit)
    assert len(found) <= limit
    ids = [id(d.row) for d in found]
    for row in rows:
        keep_days = support if row["queue"] == "support" and support is not None else days
        ref = row["ended_at"] if row["ended_at"] is not None else row["started_at"]
        is_due = (row["call_id"] not in held and row["state"] in ("complete", "missing",
                                                                   "corrupt")
                  and keep_days is not None and NOW - ref > keep_days * DAY_S)
        if id(row) in ids:
            assert is_due, row
        elif len(found) < limit:
            assert not is_due, row

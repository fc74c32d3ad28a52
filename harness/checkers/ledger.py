"""History checkers over the provider's ledger: the ground truth for "processed exactly once".

Ledger entries are the provider's JSON dicts (docs/contracts.md §1): ``item_id``,
``idempotency_key``, ``attempt``, ``arrived_at`` (monotonic), ``status``, ``outcome`` ...
Every function is pure: it takes literal entries and returns a CheckResult, so each one is proven
by a literal history that violates it (tests/unit/checkers).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from harness.checkers.result import CheckResult, ViolationGroup

Entry = Mapping[str, Any]


def work_calls(entries: Iterable[Entry]) -> list[Entry]:
    """Only the billed work calls (not listing calls, not control traffic)."""
    return [e for e in entries if e.get("kind", "generate") == "generate"]


def successful(entry: Entry) -> bool:
    """A call the provider answered with success (a billed result was delivered)."""
    return entry.get("outcome") == "ok" and entry.get("status") == 200


def exactly_once(entries: Iterable[Entry], completed_items: Iterable[str]) -> CheckResult:
    """Each completed item got exactly one successful provider call; nothing else got one twice."""
    ok_calls = Counter(str(e["item_id"]) for e in work_calls(entries) if successful(e))
    completed = {str(i) for i in completed_items}
    never = [{"item_id": i, "successful_calls": 0} for i in sorted(completed) if ok_calls[i] == 0]
    dup = [{"item_id": i, "successful_calls": n} for i, n in sorted(ok_calls.items()) if n > 1]
    groups = []
    if dup:
        groups.append(
            ViolationGroup.of("duplicate_successful_calls", dup, worst_key=lambda r: r["successful_calls"])
        )
    if never:
        groups.append(ViolationGroup.of("completed_without_call", never))
    evidence = {
        "provider_calls": len(work_calls(entries)),
        "successful_calls": sum(ok_calls.values()),
        "completed_items": len(completed),
        "duplicates": sum(n - 1 for n in ok_calls.values() if n > 1),
    }
    return CheckResult.from_violations("exactly_once", groups, evidence)


def same_idempotency_key(entries: Iterable[Entry]) -> CheckResult:
    """Every call for one item carries the same idempotency key (retries reuse it)."""
    keys: dict[str, list[Any]] = defaultdict(list)
    for e in work_calls(entries):
        keys[str(e["item_id"])].append(e.get("idempotency_key"))
    bad = [
        {"item_id": item, "keys": sorted({str(k) for k in ks}), "calls": len(ks)}
        for item, ks in sorted(keys.items())
        if len(set(ks)) > 1 or None in ks
    ]
    groups = (
        [ViolationGroup.of("idempotency_key_changed", bad, worst_key=lambda r: len(r["keys"]))] if bad else []
    )
    return CheckResult.from_violations("same_idempotency_key", groups, {"items_called": len(keys)})


def calls_only_for(entries: Iterable[Entry], allowed_items: Iterable[str], *, since: float) -> CheckResult:
    """After ``since`` (monotonic), the provider was called only for ``allowed_items``.

    Used for "retry calls only the failed items": ``allowed_items`` are the items that were failed
    when the retry was requested.
    """
    allowed = {str(i) for i in allowed_items}
    after = [e for e in work_calls(entries) if float(e["arrived_at"]) >= since]
    bad = [{"item_id": e["item_id"], "seq": e.get("seq"), "arrived_at": e["arrived_at"]}
           for e in after if str(e["item_id"]) not in allowed]  # fmt: skip
    called = {str(e["item_id"]) for e in after}
    groups = [ViolationGroup.of("call_for_item_not_retried", bad)] if bad else []
    evidence = {"calls_after": len(after), "items_called_after": len(called), "expected_items": len(allowed)}
    return CheckResult.from_violations("calls_only_for", groups, evidence)


def no_calls_during(
    entries: Iterable[Entry], windows: Sequence[tuple[float, float]], *, probes_per_window: int = 1
) -> CheckResult:
    """No more than ``probes_per_window`` calls arrive inside each (start, end) window.

    Used for "no call during an open breaker": a half-open breaker may send one probe.
    """
    calls = work_calls(entries)
    bad: list[dict[str, Any]] = []
    per_window = []
    for start, end in windows:
        inside = [e for e in calls if start <= float(e["arrived_at"]) < end]
        per_window.append(len(inside))
        bad.extend({"item_id": e["item_id"], "arrived_at": e["arrived_at"], "window": [start, end]}
                   for e in inside[probes_per_window:])  # fmt: skip
    groups = [ViolationGroup.of("call_during_open_breaker", bad)] if bad else []
    return CheckResult.from_violations("no_calls_during", groups, {"calls_in_windows": per_window})


def not_called_again(entries: Iterable[Entry], items: Iterable[str], *, since: float) -> CheckResult:
    """None of ``items`` was called at or after ``since`` (e.g. completed items after a restart)."""
    done = {str(i) for i in items}
    again = [
        {"item_id": e["item_id"], "arrived_at": e["arrived_at"]}
        for e in work_calls(entries)
        if float(e["arrived_at"]) >= since and str(e["item_id"]) in done
    ]
    groups = [ViolationGroup.of("completed_item_called_again", again)] if again else []
    return CheckResult.from_violations("not_called_again", groups, {"reprocessed_calls": len(again)})

"""The exploration itself: rounds on one stack under load until a check fails, then the shrink.

Kept apart from the command (options, exit codes) so a test can drive it with a plan. Every
round's schedule comes from ``(seed, round)``; the found round is first replayed as it is on a
fresh stack without load (is it reproducible by a script at all?), else under the exploration's
load, then shrunk; the smallest schedule whose replay still fails the same check is saved as the
reproducer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.explore import checks as checks_mod
from harness.explore import report as report_mod
from harness.explore.generator import Knobs, generate
from harness.explore.load import Load, LoadStats
from harness.explore.progress import Progress
from harness.explore.reproducer import save, script_lines, script_text
from harness.explore.runner import Counters, RoundResult, run_round
from harness.explore.schedule import Schedule
from harness.explore.shrinker import Shrunk, shrink
from harness.explore.stacks import Stacks

if TYPE_CHECKING:
    from harness.explore.command import ExplorePlan

#: a round shorter than this is not started in the remaining time
MIN_ROUND_S = 3.0


class Explorer:
    """One exploration: ``run()`` returns the violation found (None: nothing in the duration)."""

    def __init__(self, plan: ExplorePlan, say: Callable[[str], None]) -> None:
        self.plan = plan
        self.say = say
        self.counters = Counters()
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.rounds = 0
        self.load_stats: LoadStats | None = None
        self.found: RoundResult | None = None
        #: the round run before the found one on the same stack (None: the found one was its first)
        self.found_previous: Schedule | None = None
        #: the replay that failed again (the round alone, under load, or with the round before)
        self.replayed: Schedule | None = None
        #: replays that tried to confirm a sighting (each on a fresh stack)
        self.confirm_replays = 0
        self.found_after_s: float | None = None
        self.minimal: RoundResult | None = None
        self.shrunk: Shrunk | None = None
        self.last: RoundResult | None = None
        self.reproducer: Path | None = None
        self.confirmed = False
        #: the confirming replay (and so every shrinking replay and the reproducer) ran under load
        self.needs_load = False
        #: violations whose round did not fail again when replayed (without load, nor under it)
        self.unconfirmed: list[RoundResult] = []
        self.first_seen_s: float | None = None

    def knobs(self, length: float) -> Knobs:
        deadline = self.plan.target.timing.bounds().get("batch_deadline_s") or 30.0
        return Knobs(
            length_s=length, settle_s=_settle_s(self.plan.target), trickle_settle_s=float(deadline) + 5.0
        )

    # -- exploring ---------------------------------------------------------------------------------
    def run(self) -> checks_mod.Violation | None:
        with Stacks(
            self.plan.target, self.plan.backend, seed=self.plan.seed, defects=self.plan.defects, say=self.say
        ) as stacks:
            while self._time_left() >= MIN_ROUND_S:
                self.say("starting the stack...")
                with stacks.fresh() as stack:
                    self._explore(stack)
                if self.found is None:
                    break
                if self._shrink(stacks):
                    break
                # not reproducible without the load: keep exploring on a fresh stack for one that is
                self.unconfirmed.append(self.found)
                self.found = None
            if self.found is None and self.unconfirmed:
                self._keep_unconfirmed(self.unconfirmed[0])
        return self.write_report()

    def _time_left(self) -> float:
        return self.plan.duration_s - (time.monotonic() - self.started)

    def _explore(self, stack: Any) -> None:
        load = None
        if self.plan.load and stack.api_url:
            load = Load(
                self.plan.target,
                stack.api_url,
                rate=self.plan.load,
                workers=self.plan.load_workers,
                out_dir=self.plan.report_dir,
            ).start()
        progress = Progress(self.counters, self.say).start()
        previous: Schedule | None = None  # the round before, on this stack
        try:
            while (left := self._time_left()) >= MIN_ROUND_S:
                self.rounds += 1
                length = min(self.plan.round_s, left)
                schedule = generate(
                    self.plan.target,
                    seed=self.plan.seed,
                    round_no=self.rounds,
                    kinds=self.plan.kinds,
                    knobs=self.knobs(length),
                )
                result = run_round(stack, schedule, counters=self.counters)
                self.last = result
                for failed in result.failed:
                    self.say(f"round {self.rounds}: command failed: {failed}")
                if result.violated:
                    self.found, self.found_previous = result, previous
                    self.found_after_s = time.monotonic() - self.started
                    if self.first_seen_s is None:
                        self.first_seen_s = self.found_after_s
                    for v in result.violations:
                        self.say(f"round {self.rounds}: VIOLATION {v.summary()}")
                    break
                previous = schedule
        finally:
            progress.stop()
            self.say(progress.now())
            if load is not None:
                stats = load.stop()
                if stats is not None:
                    before = self.load_stats or LoadStats(requests=0, failures=0)
                    self.load_stats = LoadStats(
                        requests=before.requests + stats.requests, failures=before.failures + stats.failures
                    )
                    self.say(f"load: {stats.line()}")

    # -- shrinking ---------------------------------------------------------------------------------
    def _shrink(self, stacks: Stacks) -> bool:
        """Replay the found round until a replay fails the same check again, then shrink that one
        (True); False when none does. The replays, simplest reproducer first: the round alone
        without load; under the exploration's load (some violations need its traffic); the round
        before it and the found one as one schedule (under the load, if there was one), for a
        violation whose cause was in the round before (an item a killed worker left ``processing``
        is stuck only once the threshold has passed, in the next round's checks). The replay that
        failed is what every shrinking replay and the reproducer run (``load RATE`` included).
        """
        assert self.found is not None
        violation = checks_mod.chosen(self.found.violations)
        assert violation is not None
        check = violation.check
        replays: dict[int, RoundResult] = {}

        def fails(candidate: Schedule) -> bool:
            with stacks.fresh() as stack:
                result = run_round(stack, candidate, counters=Counters())
            hit = any(v.check == check for v in result.violations)
            if hit:
                replays[id(candidate)] = result
            return hit

        shift = 0.0  # where the found round starts in the replayed schedule
        for candidate, what in self._replays(check):
            self.say(f"replaying {what} on a fresh stack ({candidate.describe()})...")
            self.confirm_replays += 1
            if fails(candidate):
                original, self.confirmed, self.replayed = candidate, True, candidate
                self.needs_load = candidate.load_rps > 0
                shift = candidate.length_s - self.found.schedule.length_s
                break
        else:
            self.say(f"no replay failed {check} again: exploring on")
            return False
        seen_at = violation.at + shift if violation.phase == "mid-fault" else None
        self.shrunk = shrink(original, fails, budget=self.plan.shrink_budget, seen_at=seen_at, say=self.say)
        self.shrunk.replays += self.confirm_replays  # the replays that confirmed it (and earlier sightings)
        self.minimal = replays.get(id(self.shrunk.schedule)) or replays.get(id(original)) or self.found
        self._save(violation)
        return True

    def _replays(self, check: str) -> list[tuple[Schedule, str]]:
        """The candidate replays of the found round (violating ``check``), in the order they are tried."""
        assert self.found is not None
        found, load = self.found.schedule, self.plan.load
        if check in checks_mod.THRESHOLDED:
            found = replace(found, linger_s=float(self.plan.target.timing.bounds()["max_duration_s"]))
        out = [(found, f"round {found.round} without load")]
        if load:
            out.append((found.loaded(load), f"round {found.round} under load {load:g}/s"))
        if self.found_previous is not None:
            joined = self.found_previous.then(found, gap_s=1.0)
            under = f" under load {load:g}/s" if load else ""
            out.append(
                (
                    joined.loaded(load) if load else joined,
                    f"rounds {self.found_previous.round}-{found.round}{under}",
                )
            )
        return out

    def _keep_unconfirmed(self, found: RoundResult) -> None:
        """No round failed again when replayed: report the first one found, unshrunk (its script
        runs the load it was found under)."""
        self.found, self.minimal = found, found
        schedule = found.schedule.loaded(self.plan.load) if self.plan.load else found.schedule
        self.shrunk = Shrunk(schedule=schedule, replays=self.confirm_replays)
        violation = checks_mod.chosen(found.violations)
        assert violation is not None
        self.say(f"no violation failed again when replayed: saving round {found.schedule.round} unshrunk")
        self._save(violation)

    def _save(self, violation: checks_mod.Violation) -> None:
        assert self.shrunk is not None
        check = violation.check
        if self.confirmed and self.minimal is not None:  # its heals wait for what they brought about
            self.shrunk.schedule = self.shrunk.schedule.with_effects(self.minimal.observed)
        minimal = self.shrunk.schedule
        text = script_text(
            minimal,
            check=check,
            summary=violation.result.summary()[:300],
            target_name=self.plan.target.name,
            target_file=self.plan.target_file,
            defects=self.plan.defects,
        )
        self.reproducer = save(self.plan.report_dir / "reproducer.txt", text)
        self.say(f"minimal schedule: {minimal.describe()} after {self.shrunk.replays} replays")
        for line in script_lines(minimal, check):
            self.say(f"  {line}")
        self.say(f"reproducer: {self.reproducer}")

    # -- the report --------------------------------------------------------------------------------
    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "seed": self.plan.seed,
            "rounds": self.rounds,
            "ops": self.counters.ops,
            "faults_injected": self.counters.faults,
            "checks_run": self.counters.checks,
            "fault_kinds": ",".join(self.plan.kinds),
            "load": f"{self.plan.load:g} req/s" + (f", {self.load_stats.line()}" if self.load_stats else ""),
        }
        if self.found is not None:
            v = checks_mod.chosen(self.found.violations)
            assert v is not None
            ev.update(
                first_violation_seen_s=round(self.first_seen_s or 0.0, 1),
                violations_not_replayable=len(self.unconfirmed),
                check=v.check,
                phase=v.phase,
                round=self.found.schedule.round,
                time_to_find_s=round(self.found_after_s or 0.0, 1),
                faults_found=len(self.found.schedule.faults),
            )
        if self.shrunk is not None:
            minimal = self.shrunk.schedule
            ev.update(
                faults_replayed=len(self.replayed.faults) if self.replayed else None,
                faults_minimal=len(minimal.faults),
                shrink_replays=self.shrunk.replays,
                reproduced_without_load=self.confirmed and not self.needs_load,
                reproduced_under_load=self.needs_load,
                minimal_schedule=" | ".join(script_lines(minimal, ev.get("check", ""))),
                reproducer=str(self.reproducer),
            )
        return ev

    def write_report(self, *, interrupted: bool = False) -> checks_mod.Violation | None:
        shown = self.minimal or self.last
        violation = checks_mod.chosen(self.found.violations) if self.found else None
        if self.minimal is not None and violation is not None and self.confirmed:
            same = [v for v in self.minimal.violations if v.check == violation.check]
            violation = same[0] if same else violation  # the minimal replay's evidence
        scenario = report_mod.record(
            violation=violation,
            evidence=self.evidence(),
            duration_s=time.monotonic() - self.started,
            complete=not interrupted,
        )
        paths = report_mod.write(
            shown.session.history if shown and shown.session else None,
            shown.ledger if shown else [],
            self.plan.report_dir,
            scenario,
            target=self.plan.target,
            target_file=self.plan.target_file,
            backend=self.plan.backend,
            seed=self.plan.seed,
            started_at=self.started_wall,
            defects=self.plan.defects,
            command=self.plan.command(),
            interrupted=interrupted,
        )
        self.say(f"report: {paths.get('html')} (json, md, junit beside it)")
        if interrupted:
            self.say(f"chaos-audit explore: incomplete after {self.rounds} rounds (seed {self.plan.seed})")
        elif violation is None:
            self.say(f"chaos-audit explore: no violation in {self.rounds} rounds (seed {self.plan.seed})")
        else:
            self.say(f"chaos-audit explore: VIOLATION {violation.check} (seed {self.plan.seed})")
        return violation


def _settle_s(target: Any) -> float:
    """The quiet period's bound: leases taken over, retries and their timeouts, with margin."""
    t = target.timing.bounds()
    return float(max(10.0, 3 * t["lease_s"] + t["max_attempts"] * (t["provider_timeout_s"] + 1.0) + 8.0))

"""The fault registry as data: every fault registers its heal before it injects, parameters are
checked by name, and the catalogue's per-scenario faults name registered faults."""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import ENTRIES, SCENARIO_FAULTS
from harness.errors import ConfigError
from harness.faults import registry
from harness.faults.injector import Faults
from harness.faults.registry import FaultUse, handle_needs
from harness.history import History
from harness.scenario import AuditMeta, ScenarioRun
from harness.target.load import load_target


class Interrupted(BaseException):
    """Stands for the Ctrl-C that lands right after a fault was injected."""


class RecordingStack:
    """Every primitive a fault uses, recording the calls; ``interrupt`` raises after the named call."""

    def __init__(self, interrupt: str = "") -> None:
        self.target, _ = load_target(None)
        self.calls: list[str] = []
        self.interrupt = interrupt
        self.started = list(self.target.services)
        self.left_out: set[str] = set()
        self.proxy = self.provider = self

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            if name == self.interrupt:
                raise Interrupted(name)
            return self

        return call

    def process(self, name: str) -> RecordingStack:
        return self

    def proxy_name(self, link: str) -> str:
        return f"s1-{link}"

    running = True


#: a target of the reference target file for each kind of fault
TARGETS = {"service": "worker-1", "link": "worker-1-db"}
#: the call that injects each healable fault (``interrupt`` raises right after it)
INJECTS = {
    "pause": "pause",
    "hold": "stop",
    "broker_kill": "kill",
    "partition": "add_toxic",
    "latency": "add_toxic",
    "link_down": "disable",
    "provider_outage": "add_rule",
    "provider_error": "add_rule",
    "provider_hang": "add_rule",
    "provider_delay": "add_rule",
    "provider_trickle": "add_rule",
    "provider_malformed": "add_rule",
    "db_kill": "kill_db",
    "db_pause": "pause_db",
    "queue_store_kill": "kill_db",
}
PARAMS = {
    "latency": {"ms": 100},
    "provider_error": {"status": 503},
    "provider_delay": {"delay_ms": 50},
    "provider_trickle": {"trickle_ms": 20},
}


def healable() -> list[str]:
    return [f.name for f in registry.all_faults() if f.heals == "heal"]


def test_every_healable_fault_is_listed_here() -> None:
    assert sorted(healable()) == sorted(INJECTS)


@pytest.mark.parametrize("name", healable())
def test_an_interrupt_right_after_the_inject_still_heals(name: str) -> None:
    fault = registry.get(name)
    stack = RecordingStack(interrupt=INJECTS[name])
    faults = Faults(stack, History())  # type: ignore[arg-type]
    with pytest.raises(Interrupted):
        faults.inject(name, TARGETS.get(fault.acts_on, ""), **PARAMS.get(name, {}))
    assert len(faults.open_faults()) == 1, "the heal was registered before the inject"
    injected = len(stack.calls)
    assert faults.heal_all() == []
    assert stack.calls[injected:], f"{name}: healing did nothing"
    assert faults.open_faults() == []


def test_the_history_records_start_and_heal_under_the_registry_names() -> None:
    history = History()
    faults = Faults(RecordingStack(), history)  # type: ignore[arg-type]
    faults.pause("worker-1")
    faults.latency("worker-1-db", 200, jitter=10)
    assert faults.queue_store_crash() == "db"
    faults.restart("worker-2")
    faults.heal_all()
    assert [(f.name, f.target, f.phase.value) for f in history.faults()] == [
        ("pause", "worker-1", "start"),
        ("latency", "worker-1-db", "start"),
        ("db_kill", "db", "start"),
        ("restart", "worker-2", "start"),
        ("restart", "worker-2", "heal"),
        ("db_kill", "db", "heal"),
        ("latency", "worker-1-db", "heal"),
        ("pause", "worker-1", "heal"),
    ]
    assert history.faults()[1].details == {"ms": 200, "jitter": 10, "stream": "upstream"}
    assert {str(u) for u in faults.used} == {
        "pause worker",
        "latency db",
        "queue_store_kill",
        "restart worker",
    }


def test_a_refused_fault_leaves_nothing_behind() -> None:
    stack = RecordingStack()
    only_kill = stack.target.services["worker-1"].model_copy(update={"faults": ["kill"]})
    services = {**stack.target.services, "worker-1": only_kill}  # the file allows only kill on it
    stack.target = stack.target.model_copy(update={"services": services})
    history = History()
    faults = Faults(stack, history)  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"services\.worker-1\.faults: pause"):
        faults.pause("worker-1")
    assert (faults.open_faults(), history.faults(), stack.calls) == ([], [], [])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "fault latency: ms is required"),
        ({"ms": 10, "speed": 2}, "unknown parameter 'speed' (parameters: ms, jitter, stream)"),
        ({"ms": "fast"}, "ms: expected a number"),
        ({"ms": 10, "stream": "sideways"}, "stream: expected one of upstream, downstream"),
    ],
)
def test_parameters_are_checked_by_name(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        registry.get("latency").bind(params)


def test_an_unknown_fault_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown fault 'crash' \(faults: kill, pause"):
        registry.get("crash")


def test_console_verbs_map_to_one_fault_per_kind_of_target() -> None:
    assert registry.for_verb("kill", "service").name == "kill"
    assert registry.for_verb("kill", "db").name == "db_kill"
    assert registry.for_verb("pause", "db").name == "db_pause"
    assert registry.label("partition", "worker-1-db") == "partition worker-1-db"
    assert registry.label("from_an_older_run", "x") == "from_an_older_run x"


def test_every_catalogue_scenario_lists_registered_faults() -> None:
    assert set(SCENARIO_FAULTS) == {e.id for e in ENTRIES}
    for scenario_id, uses in SCENARIO_FAULTS.items():
        assert registry.check_uses(uses) == [], scenario_id
    assert registry.check_uses([FaultUse("kill"), FaultUse("db_kill", "db"), FaultUse("nope")]) == [
        "kill: kill acts on a service",
        "db_kill db: db_kill acts on a db",
        "nope: unknown fault (faults: " + ", ".join(registry.FAULTS) + ")",
    ]


def test_handle_needs_come_from_what_each_fault_acts_through() -> None:
    uses = [FaultUse.parse(w) for w in ("restart api", "latency db", "hold worker", "provider_outage")]
    assert handle_needs(uses) == ("handles.api", "handles.worker")
    assert handle_needs([FaultUse.parse("queue_store_kill"), FaultUse.parse("db_pause")]) == (
        "handles.db",
        "handles.queue_store",
    )
    assert handle_needs([FaultUse.parse("kill api?")]) == ()  # optional: never makes it unknown


def test_a_fault_the_catalogue_does_not_list_for_the_scenario_is_undeclared_use() -> None:
    stack = RecordingStack()
    run = ScenarioRun(AuditMeta(id="TEST-RR-002"), stack, History(), seed=1)  # type: ignore[arg-type]
    stack.left_out = {"worker-2"}  # started with one worker: the other is held on a running stack
    assert run.undeclared_use() == []
    run.faults.pause("worker-1")
    run.faults.latency("api-db", 100)
    assert run.undeclared_use() == ["fault latency db", "fault pause worker"]
    outside = ScenarioRun(AuditMeta(id="TEST-X-001"), stack, History(), seed=1)  # type: ignore[arg-type]
    outside.faults.pause("worker-1")
    assert outside.undeclared_use() == []  # not in the catalogue: nothing declared to compare with


def test_the_process_faults_a_target_file_allows_are_registered_service_faults() -> None:
    from harness.target.model import ALL_PROCESS_FAULTS

    for name in ALL_PROCESS_FAULTS:
        assert registry.get(name).acts_on == "service"
        assert registry.get(name).through == "handle"

"""``chaos-audit run`` validates everything before starting anything, and knows how to reproduce itself."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.run.child import ProgressTail, child_env, pytest_argv
from harness.run.command import configure, incomplete_reason
from harness.run.console import Console
from harness.run.plan import SCENARIOS_ENV, build_plan, built_ids


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "test_extra.py").write_text(
        '@pytest.mark.audit(id="TEST-RR-W01", title="t", task="x", severity="HIGH")\n'
    )
    monkeypatch.setenv(SCENARIOS_ENV, str(folder))
    return folder


def test_defaults_audit_the_reference_target_with_a_printed_seed(scenarios: Path, tmp_path: Path) -> None:
    plan = build_plan(_args("--report-dir", str(tmp_path / "out")))
    assert plan.target.name == "reference-target" and plan.target_file is None and plan.backend == "local"
    assert plan.fail_on == "high" and plan.only == () and 1 <= plan.seed < 2**31
    env = f"CHAOS_AUDIT_SCENARIOS={scenarios}"  # the run's scenarios came from the variable
    assert plan.command() == f"{env} chaos-audit run --seed {plan.seed} --report-dir {tmp_path / 'out'}"
    assert not (tmp_path / "out").exists()  # validation writes nothing


def test_only_accepts_catalogue_and_built_ids_case_insensitively(scenarios: Path, tmp_path: Path) -> None:
    plan = build_plan(_args("--only", "test-rr-006, TEST-RR-W01", "--defect", "no_fencing", "--seed", "7",
                            "--fail-on", "critical"))  # fmt: skip
    assert plan.only == ("TEST-RR-006", "TEST-RR-W01") and plan.defects == ("no_fencing",)
    assert plan.command() == (
        f"CHAOS_AUDIT_SCENARIOS={scenarios} "
        "chaos-audit run --only TEST-RR-006,TEST-RR-W01 --defect no_fencing --seed 7 --fail-on critical"
    )
    assert built_ids(scenarios) == {"TEST-RR-W01"}


@pytest.mark.parametrize(
    ("argv", "field", "words"),
    [
        (("--only", "TEST-RR-999"), "--only", "unknown scenario id(s) TEST-RR-999"),
        (("--defect", "no_such_defect"), "--defect", "unknown defect(s) no_such_defect"),
        (("--target", "/nonexistent/target.yaml"), "--target", "target file not found"),
    ],
)
def test_bad_input_is_a_config_error_naming_the_option(
    scenarios: Path, argv: tuple[str, ...], field: str, words: str
) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")) as info:
        build_plan(_args(*argv))
    assert info.value.field == field


def test_a_wrong_field_in_the_target_file_is_named(scenarios: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nname: x\nservices: {api: {rol: api}}\ntrigger: {create: {path: /b}}\n"
                   "observe: {batch: {path: /b}}\n")  # fmt: skip
    with pytest.raises(ConfigError) as info:
        build_plan(_args("--target", str(bad)))
    assert "services.api.rol" in str(info.value)


def test_a_target_without_defects_refuses_defect(scenarios: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.yaml"
    target.write_text("schema_version: 1\nname: mine\nservices: {api: {role: api}}\ntrigger: {create: {path: /b}}\n"
                      "observe: {batch: {path: /b}}\n")  # fmt: skip
    assert build_plan(_args("--target", str(target))).target_file == str(target.resolve())
    with pytest.raises(ConfigError, match="no 'defects' section"):
        build_plan(_args("--target", str(target), "--defect", "no_fencing"))


def test_report_dir_must_not_be_a_file(scenarios: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError) as info:
        build_plan(_args("--report-dir", str(tmp_path / "f")))
    assert info.value.field == "--report-dir"


def test_the_child_runs_the_scenarios_isolated_from_ini_files_and_env(
    scenarios: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = build_plan(_args("--only", "TEST-RR-004", "--defect", "no_fencing", "--seed", "5",
                            "--report-dir", str(tmp_path)))  # fmt: skip
    argv = pytest_argv(plan, tmp_path / "progress.jsonl")
    assert argv[1:4] == ["-m", "pytest", str(scenarios)]
    joined = " ".join(argv)
    assert f"-c {os.devnull}" in joined and f"--rootdir {scenarios}" in joined and "--chaos-seed 5" in joined
    assert "--chaos-only TEST-RR-004" in joined and "--chaos-defect no_fencing" in joined
    assert f"--alluredir {tmp_path / 'allure-results'}" in joined and "--chaos-target" not in joined
    assert "-p harness.plugin -p pytest_timeout" in joined and "--assert=plain" in joined
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    env = child_env()
    assert "PYTEST_ADDOPTS" not in env
    assert env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] == "1"  # only the plugins named on its command line


def test_the_child_collects_only_the_modules_of_the_scenarios_it_runs(
    scenarios: Path, tmp_path: Path
) -> None:
    (scenarios / "test_other.py").write_text(
        '@pytest.mark.audit(id="TEST-RR-W02", title="t", task="x", severity="HIGH")\n'
        '@pytest.mark.audit(id="TEST-RR-W03", title="t", task="x", severity="HIGH")\n'
    )

    def collected(*only: str) -> list[str]:
        argv = pytest_argv(
            build_plan(_args("--only", ",".join(only), "--report-dir", str(tmp_path))), tmp_path / "p"
        )
        return argv[3 : argv.index("-p")]

    assert collected("TEST-RR-W03") == [str(scenarios / "test_other.py")]
    assert collected("TEST-RR-W01", "TEST-RR-W02") == [
        str(scenarios / "test_extra.py"),
        str(scenarios / "test_other.py"),
    ]
    # an id no module declares (a catalogue scenario not built here): the whole folder, reported as before
    assert collected("TEST-RR-W01", "TEST-RR-004") == [str(scenarios)]
    assert pytest_argv(build_plan(_args("--report-dir", str(tmp_path))), tmp_path / "p")[3] == str(scenarios)


def test_progress_tail_returns_only_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    tail = ProgressTail(path)
    assert tail.read() == []
    path.write_text('{"event": "start"}\n{"event": "ver')
    assert tail.read() == [{"event": "start"}]
    with open(path, "a") as f:
        f.write('dict"}\nnot json\n')
    assert tail.read() == [{"event": "verdict"}]


def test_incomplete_reasons() -> None:
    assert incomplete_reason(2, True, True, {}).startswith("interrupted")
    assert "before writing run.json" in incomplete_reason(1, False, False, None)
    assert "failed to load: test_x.py" in incomplete_reason(1, False, False,
                                                            {"collection_errors": [{"nodeid": "test_x.py"}]})  # fmt: skip
    assert incomplete_reason(3, False, False, {"collected": [{}]}).startswith("pytest ended with an error")
    assert incomplete_reason(5, False, False, {"collected": []}) == "no scenario was collected"
    assert incomplete_reason(1, False, False, {"collected": [{}]}) == ""


def test_console_prints_one_line_per_verdict_and_quiet_prints_none() -> None:
    out = io.StringIO()
    console = Console(stream=out)
    console.event({"event": "collected", "scenarios": [{}, {}]})
    console.event({"event": "verdict", "id": "TEST-RR-006", "severity": "CRITICAL", "verdict": "fail",
                   "evidence": {"results_committed": {"value": 2, "expected": 1}}, "duration_s": 4.2,
                   "checks": [{"name": "dup", "valid": "false", "violations": [{"kind": "dup", "count": 1,
                               "first": {"item": 2}}]}]})  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0] == "  2 scenario(s) to run"
    assert lines[1] == ("[1/2] FAIL    TEST-RR-006   CRITICAL dup x1 (first: item=2); "
                        "results committed: 2 (expected 1) (4.2 s)")  # fmt: skip
    quiet = io.StringIO()
    Console(quiet=True, stream=quiet).event({"event": "verdict", "id": "X", "verdict": "pass"})
    assert quiet.getvalue() == ""

"""``audit.html``: one self-contained page for people who will not read JSON.

Everything is inline (CSS, SVG timelines, a few lines of JavaScript for filtering the table), with
no external URL, so the file can be attached to a CI run, mailed, or opened offline. It shows the
score first, then the results table, then one section per scenario with its timeline (item states
over time, fault windows shaded, provider calls marked), evidence, violations and remediation.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path

from harness.history import History
from harness.report.evidence import evidence_text, format_value, mismatched, ordered, violation_text
from harness.report.model import AuditReport, ScenarioResult
from harness.report.svg import legend, render_timeline
from harness.report.timeline import build_timeline

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#111827;
 background:#f9fafb}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:24px} h2{margin-top:32px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
.score{display:inline-block;padding:6px 16px;border-radius:6px;font-weight:700;font-size:20px;color:#fff}
.score-PASS{background:#16a34a}.score-PARTIAL{background:#d97706}.score-FAIL{background:#dc2626}
.banner{background:#fef3c7;border:1px solid #f59e0b;padding:8px 12px;border-radius:6px;margin:12px 0}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0}
th,td{border:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6} td.num{text-align:right;white-space:nowrap}
.v{font-weight:700;white-space:nowrap}.v-pass{color:#15803d}.v-fail{color:#b91c1c}.v-unknown{color:#6b7280}
.sev-CRITICAL{color:#7f1d1d;font-weight:700}.sev-HIGH{color:#b45309}.sev-MEDIUM{color:#4b5563}
article.scenario{background:#fff;border:1px solid #e5e7eb;border-left:6px solid #9ca3af;border-radius:6px;
 padding:12px 16px;margin:16px 0;overflow-x:auto}
article.verdict-pass{border-left-color:#16a34a}article.verdict-fail{border-left-color:#dc2626}
.mismatch{color:#b91c1c;font-weight:600}
.fix{background:#eff6ff;border:1px solid #bfdbfe;padding:8px;border-radius:6px}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px} pre{background:#f3f4f6;padding:8px;
 white-space:pre-wrap;border-radius:4px} .filters button{margin-right:6px} .muted{color:#6b7280}
"""

JS = """
document.body.setAttribute('data-rendered', String(document.querySelectorAll('svg.timeline').length));
document.querySelectorAll('.filters button').forEach(function(b){b.addEventListener('click',function(){
 var want=b.getAttribute('data-verdict');
 document.querySelectorAll('#results tbody tr').forEach(function(r){
  r.style.display=(want==='all'||r.getAttribute('data-verdict')===want)?'':'none';});});});
"""


def _verdict(v: str) -> str:
    return f'<span class="v v-{escape(v)}">{escape(v.upper())}</span>'


def _undecided_note(s: ScenarioResult) -> str:
    """Beside a pass: how many secondary checks this target did not let the audit decide."""
    n = len([u for u in s.undecided if not u.get("core")])
    return (
        f' <span class="muted">({n} check{"s" if n > 1 else ""} undecided)</span>'
        if n and s.verdict == "pass"
        else ""
    )


def _results_table(report: AuditReport) -> str:
    rows = []
    for s in report.scenarios:
        rows.append(
            f'<tr data-verdict="{escape(s.verdict)}"><td><a href="#sc-{escape(s.id)}">{escape(s.id)}</a></td>'
            f"<td>{escape(s.title)}</td><td>{escape(s.task)}</td>"
            f'<td class="sev-{s.severity.value}">{s.severity.value}</td><td>{_verdict(s.verdict)}'
            f"{_undecided_note(s)}</td>"
            f"<td>{escape(evidence_text(s.evidence, limit=3))}</td>"
            f'<td class="num">{s.duration_s:.1f} s</td></tr>'
        )
    buttons = "".join(
        f'<button type="button" data-verdict="{v}">{v}</button>' for v in ("all", "fail", "unknown", "pass")
    )
    return (
        f'<div class="filters">Show: {buttons}</div><table id="results"><thead><tr><th>Test ID</th>'
        "<th>Description</th><th>Task</th><th>Severity</th><th>Result</th><th>Evidence</th><th>Time</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _task_table(report: AuditReport) -> str:
    rows = "".join(
        f"<tr><td>{escape(task)}</td>"
        + "".join(f"<td class=num>{n}</td>" for n in _task_counts(ss))
        + "</tr>"
        for task, ss in report.by_task()
    )
    return (
        '<table id="tasks"><thead><tr><th>Task</th><th>Run</th><th>Passed</th><th>Failed</th><th>Unknown</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _task_counts(scenarios: list[ScenarioResult]) -> tuple[int, int, int, int]:
    """Run, passed, failed, unknown."""
    return (
        len(scenarios),
        sum(s.verdict == "pass" for s in scenarios),
        sum(s.verdict == "fail" for s in scenarios),
        sum(s.verdict == "unknown" for s in scenarios),
    )


def _evidence_list(evidence: Mapping[str, object]) -> str:
    if not evidence:
        return '<p class="muted">No evidence recorded.</p>'
    items = "".join(
        f'<tr><th>{escape(k.replace("_", " "))}</th><td class="{"mismatch" if mismatched(v) else ""}">'
        f"{escape(format_value(v))}</td></tr>"
        for k, v in ordered(evidence)
    )
    return f'<table class="evidence">{items}</table>'


def _scenario(s: ScenarioResult, history: History | None) -> str:
    parts = [
        f'<article class="scenario verdict-{escape(s.verdict)}" id="sc-{escape(s.id)}">',
        f"<h3>{escape(s.id)}: {escape(s.title)} {_verdict(s.verdict)}{_undecided_note(s)}</h3>",
        f'<p class="muted">{escape(s.audit)} / {escape(s.task)} / <span class="sev-{s.severity.value}">'
        f"{s.severity.value}</span> / {s.duration_s:.1f} s</p>",
    ]
    timeline = build_timeline(history) if history is not None else None
    if timeline is None:
        parts.append(
            '<svg class="timeline" data-scenario="' + escape(s.id) + '" xmlns="http://www.w3.org/2000/svg" '
            'width="960" height="24"><text x="4" y="16" font-size="12" fill="#6b7280">no history was '
            "saved for this scenario</text></svg>"
        )
    else:
        parts.append(render_timeline(timeline, scenario_id=s.id))
        notes = list(timeline.notes)
        if timeline.hidden_items:
            notes.append(f"{timeline.hidden_items} more item lanes not drawn")
        parts += [f'<p class="muted">{escape(n)}</p>' for n in notes]
    parts += ["<h4>Evidence</h4>", _evidence_list(s.evidence)]
    if s.violations:
        rows = "".join(
            f"<tr><td>{escape(str(v.get('check')))}</td><td>{escape(violation_text(v))}</td></tr>"
            for v in s.violations
        )
        parts += [
            "<h4>Violations</h4>",
            f'<table class="violations"><tr><th>Check</th><th>Found</th></tr>{rows}</table>',
        ]
    if s.reason and s.verdict != "pass":
        parts += ["<h4>Reason</h4>", f"<pre>{escape(s.reason[:3000])}</pre>"]
    for fix in s.fixes:
        about = escape(", ".join(fix.checks) or "the scenario")
        parts.append(
            f'<p class="fix"><strong>Remediation</strong> for {about} (effort {fix.effort}): '
            f"{escape(fix.text)}</p>"
        )
    if s.undecided:
        rows = "".join(
            f"<tr><td>{escape(str(u.get('name')))}</td><td>{'core' if u.get('core') else 'secondary'}</td>"
            f"<td>{escape(str(u.get('why')))}</td></tr>"
            for u in s.undecided
        )
        parts += [
            "<h4>Undecided checks (this target did not let the audit look)</h4>",
            f'<table class="undecided"><tr><th>Check</th><th>Kind</th><th>Why</th></tr>{rows}</table>',
        ]
    parts.append("</article>")
    return "".join(parts)


def render_html(report: AuditReport, histories: Mapping[str, History]) -> str:
    """The whole page; ``histories`` maps scenario ids to their saved histories (missing ones are noted)."""
    ctx, counts = report.context, report.counts()
    gate = report.gate_text
    not_completed = f", {counts['missing']} not completed" if counts["missing"] else ""
    head = (
        f'<h1>Audit report: {escape(report.target.name)}</h1><p><span class="score score-{report.score}" '
        f'id="score">{report.score}</span> {counts["pass"]} passed, {counts["fail"]} failed, '
        f"{counts['unknown']} unknown{not_completed}; "
        f"CI gate (fail on {escape(ctx.fail_on)}): {escape(gate)}</p>"
        f'<p class="muted">{escape(report.started_iso)}, {ctx.duration_s:.1f} s, '
        f"backend {escape(ctx.backend)}, "
        f"seed {ctx.seed}, chaos-audit {escape(report.harness_version)}</p>"
    )
    banner = ""
    if not report.complete:
        missing = "".join(f"<li>{escape(m.id)}: {escape(m.why)}</li>" for m in report.missing)
        errors = "".join(f"<li>{escape(s.id)}: harness error</li>" for s in report.harness_errors)
        banner = (
            '<div class="banner" id="incomplete"><strong>Incomplete run.</strong>'
            f"<ul>{missing}{errors}</ul></div>"
        )
    notes = "".join(f'<p class="banner">{escape(n)}</p>' for n in report.notes)
    scenarios = "".join(_scenario(s, histories.get(s.id)) for s in report.scenarios)
    body = (
        f"<main>{head}{banner}{notes}<h2>Results</h2>{_results_table(report)}"
        f"<h2>By task</h2>{_task_table(report)}"
        f"<h2>Scenarios</h2>{legend()}{scenarios}<h2>Reproduce</h2><pre>{escape(report.command)}</pre></main>"
    )
    title = f"chaos-audit: {report.target.name}: {report.score}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{CSS}</style>'
        f"</head><body>{body}<script>{JS}</script></body></html>\n"
    )


def write_html(report: AuditReport, histories: Mapping[str, History], path: Path) -> Path:
    path.write_text(render_html(report, histories))
    return path

"""The matrix page: defects x scenarios, each cell the scenario's verdict under that defect."""

from __future__ import annotations

import html
from pathlib import Path

from harness.matrix.model import Matrix

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:center}
th.defect{text-align:left}.pass{background:#d4f4d4}.fail{background:#f8d0d0}.unknown{background:#fff2c0}
.expected{outline:2px solid #333;outline-offset:-3px}.no{color:#b00;font-weight:bold}.yes{color:#070}
"""


def _cell(verdict: str | None, expected: bool) -> str:
    cls = f"{verdict or ''}{' expected' if expected else ''}"
    return f'<td class="{cls}">{html.escape(verdict or "")}</td>'


def render(matrix: Matrix) -> str:
    ids = sorted({i for r in matrix.rows for i in r.expected} | set(matrix.correct))
    head = "".join(f"<th>{html.escape(i.removeprefix('TEST-RR-'))}</th>" for i in ids)
    rows = [
        '<tr><th class="defect">correct target</th>'
        + "".join(_cell(matrix.correct.get(i), False) for i in ids)
        + f'<td class="{"yes" if not matrix.false_positives else "no"}">'
        + (
            "no false positive"
            if not matrix.false_positives
            else f"{len(matrix.false_positives)} false positive(s)"
        )
        + "</td></tr>"
    ]
    for r in matrix.rows:
        cells = "".join(_cell(r.verdicts.get(i), i in r.expected) for i in ids)
        verdict = '<td class="yes">detected</td>' if r.detected else '<td class="no">NOT detected</td>'
        rows.append(f'<tr><th class="defect">{html.escape(r.defect)}</th>{cells}{verdict}</tr>')
    status = "every defect detected, no false positive" if matrix.ok else "; ".join(matrix.problems())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>chaos-audit defect matrix</title>"
        f"<style>{_STYLE}</style></head><body><h1>Defect-detection matrix</h1>"
        f"<p id='status'>{html.escape(status)} (seed {matrix.seed})</p>"
        f"<p>Each row switches the reference target into one defect and runs the catalogue's scenarios "
        f"for it (outlined cells); a defect is detected when all of them fail.</p>"
        f"<table id='matrix'><tr><th class='defect'>defect</th>{head}<th>result</th></tr>"
        f"{''.join(rows)}</table>"
        f"</body></html>"
    )


def write_html(matrix: Matrix, path: Path) -> None:
    path.write_text(render(matrix))

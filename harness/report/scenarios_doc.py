"""Render ``docs/scenarios.md`` from the catalogue and the remediations (one source of truth).

``python -m harness.report.scenarios_doc > docs/scenarios.md``; a test fails when the file is stale.
"""

from __future__ import annotations

from harness import catalog
from harness.catalog.checks import checks_of
from harness.catalog.remediation import remediation_for

HEADER = """# The scenarios: what each audits, the defect that proves it can fail, and the fix

Generated from the catalogue `harness/catalog/` (the same data the report, the marker, `target check`
and the matrix use) by `python -m harness.report.scenarios_doc`. Every scenario lives in `scenarios/`,
one module per audit task; each passes against the correct reference target and fails when the
reference target is switched into the defect(s) named here (`chaos-audit matrix` proves it;
`tests/matrix/` runs it in CI). A scenario passes when its core checks pass; a core check it cannot
decide on a target makes it `unknown`; its other (secondary) checks are listed beside the verdict
when they cannot be decided. A scenario marked *(alone)* runs with nothing beside it when scenarios
run side by side (`chaos-audit run --jobs`).

| id | severity | task | scenario | core checks | requires (`null`: finding) | defects | remediation |
|---|---|---|---|---|---|---|---|
"""


def render() -> str:
    rows = []
    for e in catalog.ENTRIES:
        fix = remediation_for(e.id)
        defects = ", ".join(f"`{d}`" for d in e.defects)
        checks = checks_of(e.id)
        core = ", ".join(f"`{c}`" for c in checks.core_names)
        requires = ", ".join(f"`{r}`" for r in dict.fromkeys(r for c in checks.checks for r in c.requires))
        title = f"{e.title} *(alone)*" if e.alone else e.title
        cells = [e.id, e.severity.value, e.task, title, core, requires or "-", defects,
                 f"{fix.text} (effort {fix.effort})"]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")

"""Draw a :class:`~harness.report.timeline.Timeline` as one inline SVG (no scripts, no external refs).

Fault windows are shaded across every lane so a reader sees at a glance what happened during the
fault; each state segment, provider call and op carries a ``<title>``, which every browser shows
as a tooltip without any JavaScript. The HTML report embeds the result verbatim.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from harness.report.timeline import Lane, Mark, Timeline

WIDTH = 960
LABEL_W = 130
LANE_H = 14
LANE_GAP = 3
AXIS_H = 22
FAULT_ROW_H = 24

#: maps a time on the history's clock to an x coordinate
XScale = Callable[[float], float]

STATE_COLOURS: dict[str, str] = {
    "queued": "#9ca3af",
    "processing": "#3b82f6",
    "completed": "#16a34a",
    "failed": "#dc2626",
    "partial": "#f59e0b",
    "retrying": "#a855f7",
    "cancelled": "#6b7280",
    "timeout": "#ea580c",
    "dead": "#7f1d1d",
}
MARK_COLOURS: dict[str, str] = {
    "call-ok": "#111827",
    "call-error": "#b91c1c",
    "call-throttled": "#c2410c",
    "call-held": "#a16207",
    "op-ok": "#15803d",
    "op-fail": "#b91c1c",
    "op-info": "#6b7280",
}
FAULT_FILL = "rgba(220,38,38,0.13)"
OPEN_FAULT_FILL = "rgba(220,38,38,0.22)"


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, "#d1d5db")


def _nice_step(span: float) -> float:
    """A round tick spacing giving about 8 ticks over ``span`` seconds."""
    raw = span / 8
    for step in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if step >= raw:
            return step
    return 1200.0


def render_timeline(timeline: Timeline, *, scenario_id: str) -> str:
    """The SVG markup (class ``timeline``, ``data-scenario`` = the id) of one scenario's timeline."""
    lanes = timeline.lanes
    plot_w = WIDTH - LABEL_W - 10
    span = timeline.t1 - timeline.t0

    def x(t: float) -> float:
        return LABEL_W + (t - timeline.t0) / span * plot_w

    top = AXIS_H + FAULT_ROW_H
    height = top + max(1, len(lanes)) * (LANE_H + LANE_GAP) + 6
    parts = [
        f'<svg class="timeline" data-scenario="{escape(scenario_id)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="timeline of {escape(scenario_id)}">'
    ]
    parts += _axis(timeline, x, height)
    for i, w in enumerate(timeline.windows):
        x0, x1 = x(w.start), max(x(w.end), x(w.start) + 2)
        fill = FAULT_FILL if w.healed else OPEN_FAULT_FILL
        tip = f"{w.label}: +{w.start - timeline.t0:.3f}s to +{w.end - timeline.t0:.3f}s"
        tip += "" if w.healed else " (not healed before the history ended)"
        parts.append(
            f'<rect class="fault" x="{x0:.1f}" y="{AXIS_H}" width="{x1 - x0:.1f}" '
            f'height="{height - AXIS_H}" fill="{fill}"><title>{escape(tip)}</title></rect>'
        )
        y = AXIS_H + 10 + (i % 2) * 11  # two label rows so adjacent faults do not overwrite each other
        parts.append(
            f'<text class="fault-label" x="{x0 + 2:.1f}" y="{y}" font-size="10" '
            f'fill="#991b1b">{escape(w.label)}</text>'
        )
    for row, lane in enumerate(lanes):
        parts += _lane(lane, top + row * (LANE_H + LANE_GAP), x, timeline.t0)
    if not lanes:
        parts.append(
            f'<text x="{LABEL_W}" y="{top + 11}" font-size="11" fill="#6b7280">'
            "no lanes: this history recorded no samples, provider calls or client ops</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _axis(timeline: Timeline, x: XScale, height: int) -> list[str]:
    span = timeline.t1 - timeline.t0
    step = _nice_step(span)
    out = [f'<line x1="{LABEL_W}" y1="{AXIS_H - 4}" x2="{WIDTH - 10}" y2="{AXIS_H - 4}" stroke="#9ca3af"/>']
    tick = 0.0
    while tick <= span + 1e-9:
        tx = x(timeline.t0 + tick)
        out.append(f'<line x1="{tx:.1f}" y1="{AXIS_H - 8}" x2="{tx:.1f}" y2="{height}" stroke="#f3f4f6"/>')
        out.append(
            f'<text x="{tx:.1f}" y="{AXIS_H - 10}" font-size="10" text-anchor="middle" '
            f'fill="#4b5563">{tick:g}s</text>'
        )
        tick += step
    return out


def _lane(lane: Lane, y: int, x: XScale, t0: float) -> list[str]:
    out = [
        f'<g class="lane" data-lane="{escape(lane.key)}">',
        f'<text x="{LABEL_W - 6}" y="{y + LANE_H - 3}" font-size="11" text-anchor="end" '
        f'fill="#111827">{escape(lane.label)}</text>',
        f'<line x1="{LABEL_W}" y1="{y + LANE_H / 2}" x2="{WIDTH - 10}" y2="{y + LANE_H / 2}" '
        'stroke="#e5e7eb"/>',
    ]
    for s in lane.segments:
        x0, x1 = x(s.start), x(s.end)
        tip = f"{lane.label}: {s.state} from +{s.start - t0:.3f}s to +{s.end - t0:.3f}s"
        out.append(
            f'<rect class="state state-{escape(s.state)}" x="{x0:.1f}" y="{y}" '
            f'width="{max(x1 - x0, 1):.1f}" height="{LANE_H}" fill="{state_colour(s.state)}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    out += [_mark(m, y, x, t0) for m in lane.marks]
    out.append("</g>")
    return out


def _mark(mark: Mark, y: int, x: XScale, t0: float) -> str:
    colour = MARK_COLOURS.get(mark.kind, "#111827")
    x0, x1 = x(mark.start), x(mark.end)
    tip = f"{mark.label} at +{mark.start - t0:.3f}s ({(mark.end - mark.start) * 1000:.0f} ms)"
    return (
        f'<g class="mark {escape(mark.kind)}"><title>{escape(tip)}</title>'
        f'<line x1="{x0:.1f}" y1="{y - 1}" x2="{x0:.1f}" y2="{y + LANE_H + 1}" stroke="{colour}" '
        f'stroke-width="1.5"/><line x1="{x0:.1f}" y1="{y + LANE_H / 2}" x2="{max(x1, x0 + 1):.1f}" '
        f'y2="{y + LANE_H / 2}" stroke="{colour}" stroke-width="3"/></g>'
    )


def legend() -> str:
    """A small SVG legend of state colours, fault shading and mark kinds (shown once per report)."""
    entries = [(state, colour, "rect") for state, colour in STATE_COLOURS.items()]
    entries += [
        ("fault window", FAULT_FILL, "rect"),
        ("provider call", MARK_COLOURS["call-ok"], "line"),
        ("call failed", MARK_COLOURS["call-error"], "line"),
        ("call held/hung", MARK_COLOURS["call-held"], "line"),
        ("client op ok", MARK_COLOURS["op-ok"], "line"),
        ("op failed", MARK_COLOURS["op-fail"], "line"),
        ("op indeterminate", MARK_COLOURS["op-info"], "line"),
    ]
    parts = [f'<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="40">']
    for i, (name, colour, shape) in enumerate(entries):
        cx, cy = 8 + (i % 8) * 118, 6 + (i // 8) * 18
        if shape == "rect":
            parts.append(f'<rect x="{cx}" y="{cy}" width="14" height="10" fill="{colour}"/>')
        else:
            parts.append(
                f'<line x1="{cx + 7}" y1="{cy - 1}" x2="{cx + 7}" y2="{cy + 11}" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        parts.append(f'<text x="{cx + 18}" y="{cy + 9}" font-size="11" fill="#374151">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)

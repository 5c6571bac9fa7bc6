"""The weight sweep as a small hand-written SVG: mean wait against first-contact resolution, the Pareto
frontier joined by a line, and round robin, least busy and the default weights marked.

Every plotted point carries its label and values as attributes (`data-label`, `data-wait`, `data-fcr`)
and a <title> tooltip, so the file can be checked and read without a plotting library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from handoff.simulator.sweep import SweepPoint

WIDTH, HEIGHT = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 48, 62
COLOURS = {
    "grid": "#9aa5b1",
    "frontier": "#c0392b",
    "default": "#1f5fbf",
    "round_robin": "#e67e22",
    "least_busy": "#27865f",
}


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("tick range must be finite")
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def frontier_svg(points: Sequence[SweepPoint], title: str) -> str:
    if not points:
        raise ValueError("nothing to plot")
    waits = [p.wait_mean for p in points]
    fcrs = [100.0 * p.fcr for p in points]
    x_ticks = nice_ticks(min(waits), max(waits))
    y_ticks = nice_ticks(min(fcrs), max(fcrs))
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(v: float) -> float:
        return LEFT + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return TOP + plot_h - (v - y0) / (y1 - y0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for v in x_ticks:
        x = sx(v)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eeeeee"/>')
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP + plot_h}" x2="{x:.1f}" y2="{TOP + plot_h + 5}" stroke="#333333"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 19}" text-anchor="middle">{_fmt(v)}</text>')
    for v in y_ticks:
        y = sy(v)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eeeeee"/>')
        out.append(f'<line x1="{LEFT - 5}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333333"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
    out += [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333333"/>',
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 16}" text-anchor="middle">mean wait (s)</text>',
        f'<text x="18" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + plot_h / 2:.1f})">first-contact resolution (%)</text>',
    ]
    frontier = sorted((p for p in points if p.frontier), key=lambda p: p.wait_mean)
    if frontier:
        line = " ".join(f"{sx(p.wait_mean):.1f},{sy(100 * p.fcr):.1f}" for p in frontier)
        out.append(
            f'<polyline class="frontier" points="{line}" fill="none" '
            f'stroke="{COLOURS["frontier"]}" stroke-width="1.5"/>'
        )
    # Grid points first, marked policies on top.
    for p in sorted(points, key=lambda p: p.kind != "grid"):
        out.append(_marker(p, sx(p.wait_mean), sy(100 * p.fcr)))
    out += _legend(LEFT + plot_w + 20, TOP + 10)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _marker(p: SweepPoint, x: float, y: float) -> str:
    classes = f"point {p.kind}" + (" on-frontier" if p.frontier else "")
    data = (
        f"class={quoteattr(classes)} data-label={quoteattr(p.label)} "
        f'data-wait="{p.wait_mean:.4f}" data-fcr="{p.fcr:.6f}"'
    )
    tip = f"<title>{escape(p.label)}: mean wait {p.wait_mean:.1f} s, FCR {100 * p.fcr:.1f}%</title>"
    if p.kind == "grid":
        colour = COLOURS["frontier"] if p.frontier else COLOURS["grid"]
        return f'<circle {data} cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">{tip}</circle>'
    colour = COLOURS[p.kind]
    label = f'<text x="{x + 9:.1f}" y="{y - 7:.1f}" fill="{colour}">{escape(p.label)}</text>'
    if p.kind == "round_robin":
        box = f'x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10"'
        shape = f'<rect {data} {box} fill="{colour}">{tip}</rect>'
    elif p.kind == "least_busy":
        pts = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y + 5:.1f} {x - 6:.1f},{y + 5:.1f}"
        shape = f'<polygon {data} points="{pts}" fill="{colour}">{tip}</polygon>'
    else:
        pts = f"{x:.1f},{y - 7:.1f} {x + 7:.1f},{y:.1f} {x:.1f},{y + 7:.1f} {x - 7:.1f},{y:.1f}"
        stroke = f' stroke="{COLOURS["frontier"]}" stroke-width="2"' if p.frontier else ""
        shape = f'<polygon {data} points="{pts}" fill="{colour}"{stroke}>{tip}</polygon>'
    return shape + label


def _legend(x: float, y: float) -> list[str]:
    rows = [
        ("circle", COLOURS["grid"], "weights on the 0.1 grid"),
        ("circle", COLOURS["frontier"], "Pareto frontier"),
        ("diamond", COLOURS["default"], "default 0.4/0.3/0.3"),
        ("square", COLOURS["round_robin"], "round robin"),
        ("triangle", COLOURS["least_busy"], "least busy"),
    ]
    out = [f'<g class="legend" transform="translate({x:.0f},{y:.0f})">']
    for i, (shape, colour, text) in enumerate(rows):
        cy = i * 20
        if shape == "circle":
            out.append(f'<circle cx="6" cy="{cy}" r="3.5" fill="{colour}"/>')
        elif shape == "square":
            out.append(f'<rect x="1" y="{cy - 5}" width="10" height="10" fill="{colour}"/>')
        elif shape == "triangle":
            out.append(f'<polygon points="6,{cy - 6} 12,{cy + 5} 0,{cy + 5}" fill="{colour}"/>')
        else:
            out.append(f'<polygon points="6,{cy - 7} 13,{cy} 6,{cy + 7} -1,{cy}" fill="{colour}"/>')
        out.append(f'<text x="20" y="{cy + 4}">{escape(text)}</text>')
    out.append("</g>")
    return out

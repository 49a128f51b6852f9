"""Series in, SVG markup out: the dashboard's charts, drawn on the server.

Pure: no I/O, no state. Every label (a series name, a day, a title) is made visible (control
characters shown, `core.text.visible`) and XML-escaped, so a name a customer chose can only ever
be text. Colours are presentation attributes, never `style`: the console's CSP allows no inline
style, and the SVG works the same inline in a page or served on its own as image/svg+xml.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

from mailbot.core.text import visible

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 24  # room for the axis labels
LEGEND_LINE = 18
CHAR_WIDTH = 6.6  # roughly, at font-size 11: enough to lay out the legend
# Distinguishable for the common colour blindnesses (Okabe-Ito), then greys.
PALETTE = (
    "#0072b2",
    "#009e73",
    "#56b4e9",
    "#e69f00",
    "#cc79a7",
    "#d55e00",
    "#999999",
    "#f0e442",
    "#000000",
)

Format = Callable[[float], str]


def text(value: object) -> str:
    """Any label as safe character data or attribute value."""
    return escape(visible(str(value)), quote=True)


def plain_number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _frame(title: str, height: int, body: list[str]) -> str:
    label = text(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{label}" '
        f'font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{label}</title>" + "".join(body) + "</svg>"
    )


def _axes(labels: Sequence[str], top: float, fmt: Format) -> list[str]:
    """Grid lines with their values on the left, and every few days' label below."""
    parts: list[str] = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d8dee4" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5f6b76">'
            f"{text(fmt(value))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 8))
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" fill="#5f6b76">'
                f"{text(label)}</text>"
            )
    return parts


def _legend(names: Sequence[str]) -> tuple[list[str], int]:
    """Swatches and names under the plot, wrapped to the width; the parts and the lines used."""
    parts: list[str] = []
    x, line = float(LEFT), 0
    for i, name in enumerate(names):
        shown = visible(name)
        width = 16 + CHAR_WIDTH * len(shown) + 14
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, line = float(LEFT), line + 1
        y = HEIGHT + 6 + line * LEGEND_LINE
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}">{text(shown)}</text>'
        )
        x += width
    return parts, (line + 1 if names else 0)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    fmt: Format = plain_number,
) -> str:
    """Stacked bars, one per label (a day), one colour per series; each piece says what it is
    when hovered (its <title>)."""
    names = list(series)
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top = nice_top(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    bar = max(slot * 0.75, 1.0)
    body = _axes(labels, top, fmt)
    for i, label in enumerate(labels):
        base = float(TOP + plot_h)
        x = LEFT + slot * i + (slot - bar) / 2
        for k, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}">'
                f"<title>{text(f'{label} {name}: {fmt(value)}')}</title></rect>"
            )
    legend, lines = _legend(names)
    return _frame(title, HEIGHT + 8 + lines * LEGEND_LINE, body + legend)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    fmt: Format = plain_number,
) -> str:
    """One line per series over the labels; a missing value (None) breaks the line, and every
    point says its value when hovered."""
    names = list(series)
    values = [v for n in names for v in series[n] if v is not None]
    top = nice_top(max(values, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body = _axes(labels, top, fmt)
    for k, name in enumerate(names):
        colour = PALETTE[k % len(PALETTE)]
        run: list[str] = []
        points: list[str] = []
        for i, value in enumerate([*series[name], None]):
            if value is None:
                if len(run) > 1:
                    body.append(
                        f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                        'stroke-width="2"/>'
                    )
                run = []
                continue
            x = LEFT + slot * (i + 0.5)
            y = TOP + plot_h - plot_h * value / top
            run.append(f"{x:.1f},{y:.1f}")
            points.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{text(f'{labels[i]} {name}: {fmt(value)}')}</title></circle>"
            )
        body += points
    legend, lines = _legend(names)
    return _frame(title, HEIGHT + 8 + lines * LEGEND_LINE, body + legend)

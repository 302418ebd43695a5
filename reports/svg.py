"""Plotly figure dicts (reports/charts.py) drawn as vector SVG for the PDF report.

Kaleido needs a headless Chrome per process and is not installed here (platform-notes.md), so the PDF draws the same
figure data itself: bar traces (vertical or horizontal, grouped) and scatter traces (lines and markers), with a
value axis, category labels, a title and a legend — what the dashboard's charts use. WeasyPrint embeds the result
as vector graphics.
"""

from __future__ import annotations

import html
import math
from typing import Any
from xml.sax.saxutils import escape

FONT = "WenQuanYi Micro Hei"
PALETTE = ("#1f5fa8", "#e76f51", "#2a9d8f", "#c0392b", "#7f8c8d", "#8e44ad")


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
        if ticks[-1] >= high:
            break
    return ticks


def _format_tick(value: float) -> str:
    if abs(value) >= 100_000_000:
        return f"{value / 100_000_000:g}亿"
    if abs(value) >= 10_000:
        return f"{value / 10_000:g}万"
    return f"{value:g}"


def _color(trace: dict[str, Any], index: int) -> str:
    for key in ("marker", "line"):
        color = (trace.get(key) or {}).get("color")
        if isinstance(color, str):
            return color
    return PALETTE[index % len(PALETTE)]


def _text(x: float, y: float, text: str, *, size: float = 9, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-family="{FONT}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="#333"{extra}>{escape(html.unescape(text))}</text>'
    )


def figure_svg(figure: dict[str, Any], *, width: int = 680, height: int = 260) -> str:
    traces = [trace for trace in figure.get("data", []) if trace.get("type") in ("bar", "scatter")]
    title = ((figure.get("layout") or {}).get("title") or {}).get("text", "")
    horizontal = any(trace.get("orientation") == "h" for trace in traces)
    cat_key, val_key = ("y", "x") if horizontal else ("x", "y")
    categories: list[str] = []
    for trace in traces:
        for category in trace.get(cat_key) or []:
            if str(category) not in categories:
                categories.append(str(category))
    if horizontal:
        height = max(height, 22 * len(categories) + 70)
    left = 150 if horizontal else 60
    top, right, bottom = 30, 15, 70 if not horizontal else 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        _text(left, 16, title, size=11, anchor="start", extra=' font-weight="bold"'),
    ]
    values = [float(v) for trace in traces for v in (trace.get(val_key) or []) if v is not None]
    if not categories or not values:
        parts.append(_text(width / 2, height / 2, "—", size=12))
        parts.append("</svg>")
        return "".join(parts)
    low, high = min(0.0, *values), max(0.0, *values)
    ticks = _nice_ticks(low, high)
    low, high = min(ticks[0], low), max(ticks[-1], high)

    def scale(value: float) -> float:
        share = (value - low) / (high - low)
        return left + share * plot_w if horizontal else top + plot_h - share * plot_h

    band = (plot_h if horizontal else plot_w) / len(categories)

    def center(index: int) -> float:
        return (top if horizontal else left) + band * (index + 0.5)

    for tick in ticks:  # grid and value labels
        pos = scale(tick)
        if horizontal:
            parts.append(f'<line x1="{pos:.1f}" y1="{top}" x2="{pos:.1f}" y2="{top + plot_h}" stroke="#e5e5e5"/>')
            parts.append(_text(pos, top + plot_h + 12, _format_tick(tick), size=8))
        else:
            parts.append(f'<line x1="{left}" y1="{pos:.1f}" x2="{left + plot_w}" y2="{pos:.1f}" stroke="#e5e5e5"/>')
            parts.append(_text(left - 4, pos + 3, _format_tick(tick), size=8, anchor="end"))
    every = max(1, math.ceil(len(categories) / (30 if horizontal else 16)))
    for index, category in enumerate(categories):  # category labels
        if index % every:
            continue
        pos = center(index)
        label = category if len(category) <= 14 else category[:13] + "…"
        if horizontal:
            parts.append(_text(left - 4, pos + 3, label, size=8, anchor="end"))
        else:
            extra = f' transform="rotate(-40 {pos:.1f} {top + plot_h + 10:.1f})"'
            parts.append(_text(pos, top + plot_h + 10, label, size=8, anchor="end", extra=extra))

    bars = [trace for trace in traces if trace.get("type") == "bar"]
    slot = band * 0.8 / max(1, len(bars))
    for index, trace in enumerate(traces):
        color = _color(trace, index)
        points = [
            (categories.index(str(c)), float(v))
            for c, v in zip(trace.get(cat_key) or [], trace.get(val_key) or [], strict=False)
            if v is not None
        ]
        if trace.get("type") == "bar":
            offset = -band * 0.4 + slot * bars.index(trace)
            for cat, value in points:
                a, b = sorted((scale(0), scale(value)))
                if horizontal:
                    parts.append(
                        f'<rect x="{a:.1f}" y="{center(cat) + offset:.1f}" width="{b - a:.1f}" '
                        f'height="{slot:.1f}" fill="{color}"/>'
                    )
                else:
                    parts.append(
                        f'<rect x="{center(cat) + offset:.1f}" y="{a:.1f}" width="{slot:.1f}" '
                        f'height="{b - a:.1f}" fill="{color}"/>'
                    )
        else:
            coords = [
                (scale(value), center(cat)) if horizontal else (center(cat), scale(value)) for cat, value in points
            ]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>' for x, y in coords)
    axis = (
        f'<line x1="{scale(0):.1f}" y1="{top}" x2="{scale(0):.1f}" y2="{top + plot_h}" stroke="#555"/>'
        if horizontal
        else f'<line x1="{left}" y1="{scale(0):.1f}" x2="{left + plot_w}" y2="{scale(0):.1f}" stroke="#555"/>'
    )
    parts.append(axis)
    if len(traces) > 1:  # legend, top right
        x = width - right
        for index, trace in reversed(list(enumerate(traces))):
            name = str(trace.get("name") or "")
            x -= 14 + 9 * len(name)
            parts.append(f'<rect x="{x:.1f}" y="8" width="9" height="9" fill="{_color(trace, index)}"/>')
            parts.append(_text(x + 12, 16, name, size=8, anchor="start"))
    parts.append("</svg>")
    return "".join(parts)

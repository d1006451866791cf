"""Chart geometry for server-rendered inline SVG: no chart library, nothing for the
browser to compute. The templates draw what these functions measure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CHART_WIDTH = 600
LABEL_WIDTH = 130
VALUE_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class ColumnChart:
    width: int
    height: int
    baseline: float  # y of the axis
    top: int  # the value the full height stands for
    columns: list[Column]
    ticks: list[tuple[float, str]]  # x, label: a few days along the axis


def columns(
    points: Sequence[tuple[str, int]],
    *,
    height: int = 180,
    label_every: int = 7,
) -> ColumnChart:
    """Vertical bars, one per point, scaled to the largest value (at least 1, so an empty
    month draws a flat line instead of dividing by zero)."""
    pad_top, pad_bottom = 18.0, 22.0
    top = max([value for _, value in points] + [1])
    usable = height - pad_top - pad_bottom
    slot = CHART_WIDTH / max(len(points), 1)
    gap = min(4.0, slot * 0.2)
    baseline = height - pad_bottom
    bars = []
    ticks = []
    for index, (label, value) in enumerate(points):
        bar_height = usable * value / top
        x = index * slot + gap / 2
        bars.append(Column(label, value, x, baseline - bar_height, slot - gap, bar_height))
        # Labels every `label_every` days and on the last one, anchored so none is cut
        # at the edges (the template anchors the first at its start, the last at its end).
        if index == len(points) - 1:
            ticks.append((x + slot - gap, label))
        elif index == 0:
            ticks.append((x, label))
        elif index % label_every == 0 and len(points) - 1 - index >= label_every // 2:
            ticks.append((x + (slot - gap) / 2, label))
    return ColumnChart(CHART_WIDTH, height, baseline, top, bars, ticks)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    y: float
    width: float
    share: float | None  # of the bar before (funnel steps), None for the first


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    row: int
    label_width: int
    bars: list[Bar]


def bars(items: Sequence[tuple[str, int]], *, row: int = 30, steps: bool = False) -> BarChart:
    """Horizontal bars, labels on the left, scaled to the largest value. With `steps`
    each bar also carries its share of the one before (a funnel's conversion)."""
    top = max([value for _, value in items] + [1])
    span = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH
    drawn = []
    previous: int | None = None
    for index, (label, value) in enumerate(items):
        share = value / previous if steps and previous else None
        drawn.append(Bar(label, value, index * row, max(span * value / top, 0.0), share))
        previous = value
    return BarChart(CHART_WIDTH, max(len(items), 1) * row, row, LABEL_WIDTH, drawn)

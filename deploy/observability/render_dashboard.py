"""Render the provisioned Grafana dashboard from a real Prometheus, as a PNG.

Grafana itself is not installable on our machines (no image registry, and
no Debian, PyPI or npm package of the server), so the README's picture is
drawn by this script instead: it reads the dashboard JSON that Grafana is
provisioned with (deploy/observability/grafana/dashboards/opply.json), runs
every panel's PromQL queries against Prometheus's HTTP API over the chosen
time range, and lays the panels out on the dashboard's own grid, titles,
legends and units included, in Grafana's dark colours. The data is exactly
what Grafana would show; the drawing is matplotlib's, not Grafana's.

    .venv-render/bin/python deploy/observability/render_dashboard.py \\
        --prometheus http://127.0.0.1:16390 --minutes 12 --out docs/images/dashboard.png

(``requirements/render.txt``: matplotlib, in a virtualenv of its own.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

DASHBOARD = Path(__file__).resolve().parent / "grafana" / "dashboards" / "opply.json"
BACKGROUND, PANEL, TEXT, GRID, MUTED = "#111217", "#181b1f", "#ccccdc", "#2c3235", "#8e8e8e"
PALETTE = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#5794F2", "#B877D9", "#FADE2A", "#37872D", "#C4162A"]
UNIT_PX = 30  # Grafana's grid: one height unit is 30 px


def query_range(prometheus: str, expr: str, start: float, end: float, step: int) -> list[dict]:  # type: ignore[type-arg]
    expr = expr.replace("$__rate_interval", "1m")
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as response:  # noqa: S310 - an operator's URL
        body = json.load(response)
    if body["status"] != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or json.dumps(labels)


def formatter(unit: str) -> FuncFormatter:
    def fmt(value: float, _: object) -> str:
        if unit == "percentunit":
            return f"{value * 100:.1f}%"
        if unit == "s":
            return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.1f} s"
        if unit == "reqps":
            return f"{value:.1f} req/s" if value < 10 else f"{value:.0f} req/s"
        return f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2f}"

    return FuncFormatter(fmt)


def render(prometheus: str, minutes: int, out: Path, end: float | None = None) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    end = end or time.time()
    start = end - minutes * 60
    step = max(5, minutes * 60 // 240)
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width_px, header_px = 1920, 70
    height_px = rows * UNIT_PX + header_px
    dpi = 100
    figure = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor=BACKGROUND)
    span = f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M} to {datetime.fromtimestamp(end, UTC):%H:%M} UTC"
    figure.text(0.008, 1 - 22 / height_px, dashboard["title"], color=TEXT, fontsize=15, fontweight="bold", va="center")
    figure.text(
        0.008,
        1 - 50 / height_px,
        f"{span} · live data from Prometheus, drawn from the provisioned dashboard by deploy/observability/render_dashboard.py (Grafana cannot be installed here)",
        color=MUTED,
        fontsize=9.5,
        va="center",
    )
    pad = 6
    for panel in panels:
        grid = panel["gridPos"]
        left = (grid["x"] * width_px / 24 + pad) / width_px
        right = ((grid["x"] + grid["w"]) * width_px / 24 - pad) / width_px
        top = 1 - (header_px + grid["y"] * UNIT_PX + pad) / height_px
        bottom = 1 - (header_px + (grid["y"] + grid["h"]) * UNIT_PX - pad) / height_px
        # The panel's frame, then the plot inside it (room for the title and the legend).
        frame = figure.add_axes((left, bottom, right - left, top - bottom))
        frame.set_facecolor(PANEL)
        frame.set_xticks([])
        frame.set_yticks([])
        for side in frame.spines.values():
            side.set_color(GRID)
        frame.text(0.012, 0.955, panel["title"], transform=frame.transAxes, color=TEXT, fontsize=10.5, fontweight="bold", va="top")
        axes = figure.add_axes((left + 52 / width_px, bottom + 62 / height_px, right - left - 64 / width_px, top - bottom - 96 / height_px))
        axes.set_facecolor(PANEL)
        unit = panel["fieldConfig"]["defaults"].get("unit", "short")
        stacked = panel["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
        series = []
        for target in panel["targets"]:
            for result in query_range(prometheus, target["expr"], start, end, step):
                points = [
                    (datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")
                ]
                if points:
                    series.append((legend(target.get("legendFormat", ""), result["metric"]), points))
        if not series:
            axes.text(0.5, 0.58, "No data", transform=axes.transAxes, color=MUTED, fontsize=12, ha="center", va="center")
            # Grafana shows the description on hover; here it says why the panel is empty.
            note = panel.get("description", "")
            note = note[note.find("(") + 1 : note.find(")")] if "(" in note else ""
            axes.text(0.5, 0.38, note, transform=axes.transAxes, color=MUTED, fontsize=8, ha="center", va="center", wrap=True)
        baseline: dict[datetime, float] = {}
        for index, (name, points) in enumerate(sorted(series, key=lambda s: s[0])):
            color = PALETTE[index % len(PALETTE)]
            xs = [t for t, _ in points]
            ys = [v for _, v in points]
            if stacked:
                lows = [baseline.get(t, 0.0) for t in xs]
                ys = [low + v for low, v in zip(lows, ys, strict=True)]
                for t, v in zip(xs, ys, strict=True):
                    baseline[t] = v
                axes.fill_between(xs, lows, ys, color=color, alpha=0.35, linewidth=0)
            else:
                axes.fill_between(xs, 0, ys, color=color, alpha=0.08, linewidth=0)
            axes.plot(xs, ys, color=color, linewidth=1.3, label=name)
        axes.set_xlim(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        axes.set_ylim(bottom=0)
        axes.yaxis.set_major_formatter(formatter(unit))
        axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axes.tick_params(colors=MUTED, labelsize=8, length=0)
        axes.grid(color=GRID, linewidth=0.6)
        for side in axes.spines.values():
            side.set_visible(False)
        if series:
            axes.legend(
                loc="upper left",
                bbox_to_anchor=(-0.06, -0.1),
                ncol=3,
                frameon=False,
                fontsize=7.5,
                labelcolor=TEXT,
                handlelength=1.2,
                columnspacing=1.0,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi, facecolor=BACKGROUND)
    print(f"wrote {out} ({width_px}x{height_px})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=int, default=15, help="time range, ending now")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    render(args.prometheus.rstrip("/"), args.minutes, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a capacity discovery found, for people and for tools: a summary in lines, the CSV of
every step, a chart (PNG and SVG, drawn by matplotlib) and a self-contained HTML page.

Text that came from a server (failure reasons) never reaches these files: they hold numbers,
the SLOs as the user wrote them, and failure kinds named by us. The HTML escapes it all anyway.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from pathlib import Path

from conformance.load.metrics import FAILURE_NAMES
from conformance.load.steps import Discovery, StepResult
from conformance.load.thresholds import GENERATOR_SATURATED, Threshold
from conformance.redaction import redact

__all__ = ["summary", "step_line", "write_report", "CSV_COLUMNS"]

_LATENCIES = (
    ("final_latency", 0.5),
    ("final_latency", 0.95),
    ("final_latency", 0.99),
    ("interim_latency", 0.95),
    ("send_lateness", 0.99),
)
CSV_COLUMNS = (
    "users",
    "window_s",
    "attempts",
    "streams",
    "finals",
    *(f"{name}_p{round(fraction * 100)}_ms" for name, fraction in _LATENCIES),
    "failure_rate",
    *FAILURE_NAMES,
    "slos_met",
    "broken",
)


def _broken(step: StepResult) -> list[str]:
    return [
        f"{t.text} (measured {t.show(m)})" if m is not None else f"{t.text} (no data)"
        for t, m, held in step.verdicts
        if not held
    ]


def summary(discovery: Discovery, first_429: int | None = None) -> list[str]:
    """The answer in a few lines: the capacity, why the next step did not hold, and the steps."""
    lines = ["capacity discovery (SLOs: " + "; ".join(slo.text for slo in discovery.slos) + ")"]
    lines += [f"  {step_line(step)}" for step in discovery.steps]
    capacity, breaking = discovery.capacity, discovery.breaking
    if breaking is not None and not breaking.measured:
        lines.append(
            f"inconclusive: at {breaking.users} streams no stream was measured (on a master: are the workers `conformance load --worker` of this version?)"
        )
    elif breaking is not None and breaking.generator_saturated:
        lines.append(
            f"inconclusive: at {breaking.users} streams the load generator sent its audio late ({'; '.join(_broken(breaking))}): {GENERATOR_SATURATED}"
        )
    elif capacity is None and breaking is not None:
        lines.append(
            f"capacity: below {breaking.users} concurrent streams (the first step broke {'; '.join(_broken(breaking))})"
        )
    elif breaking is None and not discovery.finished:
        lines.append(
            f"inconclusive: the run stopped before the discovery ended; every step so far met every SLO, the last at {capacity} concurrent streams"
        )
    elif breaking is None:
        lines.append(
            f"capacity: at least {capacity} concurrent streams (every step met every SLO; raise --discover-max to go further)"
        )
    else:
        lines.append(f"capacity: {capacity} concurrent streams met every SLO")
    if breaking is not None and not breaking.generator_saturated and capacity is not None:
        failures = ", ".join(f"{name} {count}" for name, count in breaking.failures.items())
        lines.append(
            f"at {breaking.users}: broke {'; '.join(_broken(breaking))}"
            + (f"; failed streams: {failures}" if failures else "")
        )
    if first_429 is not None:
        lines.append(f"rate limit: the first 429 came with {first_429} concurrent streams open")
    return lines


def step_line(step: StepResult) -> str:
    """One step's verdict in a line: its concurrency, met or broke, p95 final latency, failures."""
    p95 = step.percentile("final_latency", 0.95)
    rate = step.window.failure_rate()
    return (
        f"{step.users:6} streams: {'met' if step.met else 'BROKE':5}  p95(final_latency) {'-' if p95 is None else f'{p95:.0f}ms'}"
        f"  failures {'-' if rate is None else f'{rate * 100:.1f}%'}  ({step.window['stream'].requests} streams in {step.seconds:.0f}s)"
    )


def _row(step: StepResult) -> list[object]:
    latencies = [step.percentile(name, fraction) for name, fraction in _LATENCIES]
    rate = step.window.failure_rate()
    return [
        step.users,
        round(step.seconds, 1),
        step.window["connect"].requests,
        step.window["stream"].requests,
        step.window["final_latency"].requests,
        *("" if value is None else round(value) for value in latencies),
        "" if rate is None else round(rate, 5),
        *(step.window[name].failures for name in FAILURE_NAMES),
        "yes" if step.met else "no",
        "; ".join(_broken(step)),
    ]


def _chart(discovery: Discovery, directory: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    from matplotlib import pyplot

    steps = discovery.steps
    users = [step.users for step in steps]
    figure, latency_axis = pyplot.subplots(figsize=(9, 5.2), dpi=110)
    for (name, fraction), style in zip(_LATENCIES[:4], ("-o", "-s", "-^", "--x"), strict=True):
        values = [step.percentile(name, fraction) for step in steps]
        latency_axis.plot(
            users, [float("nan") if v is None else v for v in values], style, label=f"p{round(fraction * 100)} {name}"
        )
    for slo in _latency_slos(discovery.slos):
        latency_axis.axhline(slo.value, color="tab:red", linestyle=":", linewidth=1.2)
        latency_axis.annotate(
            f"SLO {slo.text}",
            (0.01, slo.value),
            xycoords=("axes fraction", "data"),
            color="tab:red",
            fontsize=8,
            va="bottom",
        )
    if discovery.capacity is not None:
        latency_axis.axvline(discovery.capacity, color="tab:green", linewidth=1.5)
        latency_axis.annotate(
            f"capacity {discovery.capacity}",
            (discovery.capacity, 0.97),
            xycoords=("data", "axes fraction"),
            color="tab:green",
            fontsize=9,
            ha="right",
            va="top",
            rotation=90,
        )
    breaking = discovery.breaking
    if breaking is not None:
        latency_axis.axvspan(discovery.capacity or 0, breaking.users, color="tab:red", alpha=0.08, label="SLO broken")
    latency_axis.set_xlabel("concurrent streams")
    latency_axis.set_ylabel("latency behind the audio (ms)")
    latency_axis.set_ylim(bottom=0)
    latency_axis.grid(alpha=0.3)
    failure_axis = latency_axis.twinx()
    rates = [step.window.failure_rate() for step in steps]
    failure_axis.plot(
        users,
        [float("nan") if r is None else r * 100 for r in rates],
        "-d",
        color="tab:gray",
        alpha=0.8,
        label="failed streams %",
    )
    for slo in discovery.slos:
        if slo.stat == "rate" and slo.op in ("<", "<="):
            failure_axis.axhline(slo.value * 100, color="tab:gray", linestyle=":", linewidth=1.2)
            failure_axis.annotate(
                f"SLO {slo.text}",
                (0.99, slo.value * 100),
                xycoords=("axes fraction", "data"),
                color="tab:gray",
                fontsize=8,
                ha="right",
                va="bottom",
            )
    failure_axis.set_ylabel("failed streams (%)")
    failure_axis.set_ylim(0, max(5.0, *(r * 100 * 1.2 for r in rates if r is not None)))
    handles, labels = latency_axis.get_legend_handles_labels()
    more_handles, more_labels = failure_axis.get_legend_handles_labels()
    latency_axis.legend(
        handles + more_handles, labels + more_labels, loc="upper left", fontsize=8, bbox_to_anchor=(0.0, 0.93)
    )
    latency_axis.set_title("Latency and failures by concurrency")
    figure.tight_layout()
    png, svg = directory / "capacity.png", directory / "capacity.svg"
    figure.savefig(png)
    figure.savefig(svg)
    pyplot.close(figure)
    return png, svg


def _latency_slos(slos: list[Threshold]) -> list[Threshold]:
    return [slo for slo in slos if slo.stat != "rate" and slo.name != "send_lateness" and slo.op in ("<", "<=")]


def _html(
    discovery: Discovery, lines: list[str], svg: str, rows: list[list[object]], about: Sequence[tuple[str, str]]
) -> str:
    # The CSV's column names, allowed to break at their underscores so the table fits a window.
    head = "".join(f"<th>{html.escape(column).replace('_', '_<wbr>')}</th>" for column in CSV_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    answer = html.escape(next((line for line in lines if line.startswith(("capacity:", "inconclusive:"))), ""))
    details = "".join(f"<li>{html.escape(line)}</li>" for line in lines[1:] if not line.startswith(" "))
    # The SVG is matplotlib's own document: drop its XML prologue to inline it.
    inline = svg[svg.index("<svg") :]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Capacity discovery</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}h1{{font-size:1.4em}}
.answer{{font-size:1.2em;font-weight:600}}table{{border-collapse:collapse;font-size:.85em}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:right}}th{{background:#f4f4f4;vertical-align:bottom}}
.steps{{overflow-x:auto}}td:last-child{{text-align:left;min-width:24em}}svg{{max-width:100%;height:auto}}</style>
</head><body>
<h1>Capacity discovery</h1>
<p class="about">{" · ".join(f"{html.escape(name)}: {html.escape(redact(value))}" for name, value in about)}</p>
<p class="answer">{answer}</p>
<ul>{details}</ul>
<p>SLOs, judged per step over its last {discovery.plan.hold - discovery.plan.settle:g} s: {html.escape("; ".join(slo.text for slo in discovery.slos))}</p>
{inline}
<h2>Steps</h2>
<div class="steps"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
<p>Latencies: a result's arrival minus the moment the audio up to its end had been sent. The same numbers are in capacity.csv.</p>
</body></html>
"""


def write_report(
    discovery: Discovery, directory: Path, first_429: int | None = None, about: Sequence[tuple[str, str]] = ()
) -> list[Path]:
    """Write ``capacity.csv``, ``capacity.png``, ``capacity.svg`` and ``capacity.html``; ``about``
    names what was measured at the top of the page (endpoint, scenario, when), secrets redacted."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = [_row(step) for step in discovery.steps]
    table = directory / "capacity.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    png, svg = _chart(discovery, directory)
    page = directory / "capacity.html"
    page.write_text(_html(discovery, summary(discovery, first_429), svg.read_text(), rows, about), encoding="utf-8")
    return [table, png, svg, page]

"""A sequence quality report (``SequenceReport.to_dict()``) as one standalone HTML page.

The page holds what the workbench's Quality page shows of synthetic histories: the verdict,
the headline scores and the sequence gates; a few real and synthetic histories side by side
(the report's ``samples``, one chart per numeric step column); the autocorrelation curves
(real, synthetic and holdout, lags 1..k, per numeric column); the length histograms; the
per-step and per-entity verdicts and the notes. Charts are inline SVG: the page needs no script
and nothing from the network, so it opens offline (share links, downloads). Every text from the
data (entity, column and category names) is HTML-escaped.
"""

from __future__ import annotations

import math
from typing import Any

from engine.quality.html_parts import BASE_CSS, GATE_HEADERS, VERDICT, badge, gate_rows, html_table
from engine.quality.html_parts import esc as _esc
from engine.quality.html_parts import num as _num
from engine.quality.sequences.report import HEADLINE

ROLE_COLOURS = {"real": "#1f77b4", "synthetic": "#d62728", "holdout": "#2ca02c"}
_CSS = BASE_CSS + ".charts{display:flex;flex-wrap:wrap;gap:12px} figure{margin:0} figcaption{font-size:13px;color:#57606a}\n"
_W, _H, _PAD = 360, 180, 28


def _finite(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def line_svg(series: dict[str, list[Any]], *, title: str) -> str:
    """An inline SVG line chart of ``{label: [y, ...]}`` (x = the position; None breaks a line), with a legend."""
    points = [y for ys in series.values() for y in ys if _finite(y) is not None]
    longest = max((len(ys) for ys in series.values()), default=0)
    if not points or longest == 0:
        return f'<figure><figcaption>{_esc(title)}: nothing to plot</figcaption></figure>'
    low, high = min(points), max(points)
    span = (high - low) or 1.0

    def xy(i: int, y: float) -> str:
        x = _PAD + (_W - 2 * _PAD) * (i / max(1, longest - 1))
        return f"{x:.1f},{_H - _PAD - (_H - 2 * _PAD) * (y - low) / span:.1f}"

    lines = []
    for index, (label, ys) in enumerate(series.items()):
        colour = ROLE_COLOURS.get(label.split(" ")[0], ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"][index % 4])
        runs, run = [], []
        for i, y in enumerate(ys):
            if _finite(y) is None:
                runs, run = runs + [run] if run else runs, []
            else:
                run.append(xy(i, float(y)))
        runs += [run] if run else []
        dash = ' stroke-dasharray="4 3"' if label.startswith("holdout") else ""
        lines += [f'<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{" ".join(r)}"/>'
                  for r in runs if r]
        lines.append(f'<text x="{_PAD + 90 * index}" y="12" font-size="11" fill="{colour}">{_esc(label)}</text>')
    axis = (f'<text x="2" y="{_PAD}" font-size="10">{_esc(_num(high, 3))}</text>'
            f'<text x="2" y="{_H - _PAD}" font-size="10">{_esc(_num(low, 3))}</text>'
            f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#d0d7de"/>')
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="{_esc(title)}">{axis}{"".join(lines)}</svg><figcaption>{_esc(title)}</figcaption></figure>')


def bars_svg(edges: list[Any], counts: dict[str, list[Any]], *, title: str) -> str:
    """Side-by-side histogram bars (share of each table's entities per bin) as inline SVG."""
    bins = max(0, len(edges) - 1)
    shares = {}
    for role, values in counts.items():
        total = sum(v for v in values if _finite(v) is not None) or 1
        shares[role] = [(_finite(v) or 0.0) / total for v in values[:bins]]
    top = max((s for values in shares.values() for s in values), default=0.0) or 1.0
    if bins == 0:
        return f'<figure><figcaption>{_esc(title)}: nothing to plot</figcaption></figure>'
    width = (_W - 2 * _PAD) / bins
    bar = width / max(1, len(shares))
    rects = []
    for r, (role, values) in enumerate(shares.items()):
        colour = ROLE_COLOURS.get(role, "#9467bd")
        for i, share in enumerate(values):
            height = (_H - 2 * _PAD) * share / top
            rects.append(f'<rect x="{_PAD + i * width + r * bar:.1f}" y="{_H - _PAD - height:.1f}" width="{bar:.1f}" '
                         f'height="{height:.1f}" fill="{colour}" opacity="0.8"/>')
        rects.append(f'<text x="{_PAD + 90 * r}" y="12" font-size="11" fill="{colour}">{_esc(role)}</text>')
    axis = (f'<text x="{_PAD}" y="{_H - 8}" font-size="10">{_esc(_num(edges[0], 0))}</text>'
            f'<text x="{_W - _PAD - 30}" y="{_H - 8}" font-size="10">{_esc(_num(edges[-1], 0))}</text>')
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="{_esc(title)}">{axis}{"".join(rects)}</svg><figcaption>{_esc(title)}</figcaption></figure>')


def _scores_section(document: dict[str, Any]) -> str:
    scores = document.get("scores") or {}
    rows = [[f"<code>{_esc(k)}</code>", _num(scores.get(k), 4)] for k in HEADLINE]
    gates = document.get("gates") or []
    return ("<section><h2>Scores and gates</h2>" + html_table(["score", "value"], rows, {1})
            + html_table(GATE_HEADERS, gate_rows(gates), {3})
            + "</section>")


def _histories_section(document: dict[str, Any]) -> str:
    samples = document.get("samples") or {}
    histories = samples.get("histories") or {}
    columns = samples.get("columns") or []
    if not histories or not columns:
        return ("<section><h2>Histories</h2><p class=\"muted\">This report holds no sample histories (it was made "
                "before they were kept, or no step column is numeric).</p></section>")
    charts = []
    for column in columns:
        for role, items in histories.items():
            series = {f"{role} {item.get('entity')}": (item.get("values") or {}).get(column) or [] for item in items}
            charts.append(line_svg(series, title=f"{column}: {role} histories (step by step)"))
    return ("<section><h2>Histories, real and synthetic</h2><p class=\"muted\">A few entities of each table, their "
            f"first steps in time order, by <code>{_esc(samples.get('order_by', ''))}</code>.</p>"
            f'<div class="charts">{"".join(charts)}</div></section>')


def _autocorrelation_section(document: dict[str, Any]) -> str:
    auto = (document.get("figures") or {}).get("autocorrelation") or {}
    columns = auto.get("columns") or {}
    if not columns:
        return ("<section><h2>Autocorrelation</h2><p class=\"muted\">Not measured (no numeric step column, or the "
                "temporal part was left out).</p></section>")
    charts = [line_svg({role: entry.get(role) or [] for role in ROLE_COLOURS if role in entry},
                       title=f"{column}: autocorrelation at lags 1..{len(entry.get('lags') or [])} "
                             f"(error {_num(entry.get('error'))})")
              for column, entry in columns.items()]
    return (f"<section><h2>Autocorrelation</h2><p class=\"muted\">Mean absolute difference real vs synthetic: "
            f"{_num(auto.get('error'))} (real vs holdout: {_num(auto.get('holdout_error'))}).</p>"
            f'<div class="charts">{"".join(charts)}</div></section>')


def _lengths_section(document: dict[str, Any]) -> str:
    lengths = (document.get("figures") or {}).get("lengths") or {}
    histogram = lengths.get("histogram") or {}
    roles = [r for r in ROLE_COLOURS if isinstance(lengths.get(r), dict)]
    rows = [[_esc(r), *(_num(lengths[r].get(k)) for k in ("entities", "min", "median", "max", "mean"))] for r in roles]
    chart = bars_svg(histogram.get("edges") or [], {r: histogram[r] for r in roles if r in histogram},
                     title="Histories per length bin (share of each table's entities)")
    return (f"<section><h2>Lengths</h2><p class=\"muted\">KS similarity real vs synthetic: "
            f"{_num(lengths.get('ks_similarity'))} (real vs holdout: {_num(lengths.get('holdout_ks_similarity'))})."
            f"</p>{html_table(['table', 'entities', 'min', 'median', 'max', 'mean'], rows, {1, 2, 3, 4, 5})}{chart}"
            "</section>")


def _parts_section(document: dict[str, Any]) -> str:
    rows = []
    for label, key in (("Steps", "steps"), ("Entities (context)", "entities")):
        part = document.get(key)
        if isinstance(part, dict):
            flagged = [f"{g.get('name')} ({g.get('status')})" for g in part.get("gates") or []
                       if g.get("status") in ("warn", "block", "inconclusive")]
            rows.append([_esc(label), badge(part.get("status")), _esc(", ".join(flagged) or "none")])
        else:
            rows.append([_esc(label), "not measured", ""])
    notes = "".join(f"<li>{_esc(n)}</li>" for n in document.get("notes") or [])
    return ("<section><h2>Per step and per entity</h2>" + html_table(["part", "status", "flagged gates"], rows)
            + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "") + "</section>")


def render_sequence_html(document: dict[str, Any]) -> str:
    """The standalone HTML page of a stored sequence quality report (see the module docstring)."""
    status = str(document.get("status", "warn"))
    inputs = document.get("inputs") or {}
    entities = inputs.get("entities") or {}
    counts = ", ".join(f"{_esc(role)} {_num(n)}" for role, n in entities.items())
    header = (f"<section><h1>Sequence quality report {badge(VERDICT.get(status, status))}</h1>"
              f"<p class=\"muted\">Histories of <code>{_esc(inputs.get('entity', ''))}</code> over "
              f"<code>{_esc(inputs.get('order_by', ''))}</code>; entities: {counts}. Engine "
              f"{_esc(document.get('engine_version', ''))}, {_esc(document.get('created_at', ''))}.</p></section>")
    body = "".join([header, _scores_section(document), _histories_section(document),
                    _autocorrelation_section(document), _lengths_section(document), _parts_section(document)])
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Doppel sequence quality report"
            f"</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>")


__all__ = ["bars_svg", "line_svg", "render_sequence_html"]

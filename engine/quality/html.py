"""The quality report as one standalone HTML page, and the figures the workbench shows.

``build_figures(report_dict)`` turns a report's JSON (``QualityReport.to_dict()``) into plotly
figures: per-column real-vs-synthetic distributions, association heatmaps (real, synthetic,
difference), the utility comparison and feature importances, the DCR histograms and the
membership-inference ROC curves. The workbench calls it on a stored report; ``render_html``
lays the same figures out in a page with the gate table, recommendations, notes and metric
definitions. plotly.js is embedded once, every figure's data is inline, nothing is fetched:
the file opens offline. Text from the data (column names, categories) is HTML-escaped, and
figure JSON is escaped so that no value can close the ``<script>`` element.
"""

from __future__ import annotations

import html
import json
from typing import Any

_STATUS_COLOUR = {"pass": "#1a7f37", "warn": "#9a6700", "block": "#cf222e", "inconclusive": "#8250df",
                  "skipped": "#6e7781"}
_REAL, _SYN, _HOLD = "#1f77b4", "#ff7f0e", "#7f7f7f"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _esc(value)


# ----------------------------------------------------------------------------- figures


def build_figures(report: dict[str, Any]) -> dict[str, Any]:
    """Plotly figures of a report dict, keyed ``distribution:<column>``, ``association_real``, ..."""
    import plotly.graph_objects as go

    figures: dict[str, Any] = {}
    fid = report.get("fidelity")
    if fid:
        for name, dist in fid["distributions"].items():
            figures[f"distribution:{name}"] = _distribution_figure(go, name, dist)
        m = fid["matrices"]
        if len(m["columns"]) >= 2:
            for role, title, scale, zmin in (
                ("real", "Real", "RdBu", -1.0),
                ("synthetic", "Synthetic", "RdBu", -1.0),
                ("difference", "|Real - synthetic|", "Reds", 0.0),
            ):
                fig = go.Figure(go.Heatmap(
                    z=m[role], x=m["columns"], y=m["columns"], zmin=zmin, zmax=1.0, colorscale=scale,
                    reversescale=scale == "RdBu", customdata=m["measure"],
                    hovertemplate="%{y} x %{x}<br>%{customdata}: %{z:.3f}<extra></extra>",
                ))
                fig.update_layout(title=f"Association: {title}", height=520, margin=dict(l=120, r=20, t=50, b=120),
                                  yaxis=dict(autorange="reversed"), template="plotly_white")
                figures[f"association_{role}"] = fig
    util = report.get("utility")
    if util:
        metrics = [k for k in util["trtr"] if k != "mae"]
        fig = go.Figure([
            go.Bar(name="train real, test real (TRTR)", x=[k.upper() for k in metrics], y=[util["trtr"][k] for k in metrics], marker_color=_REAL),
            go.Bar(name="train synthetic, test real (TSTR)", x=[k.upper() for k in metrics], y=[util["tstr"][k] for k in metrics], marker_color=_SYN),
        ])
        fig.update_layout(title=f"Utility for target {util['target']!r} ({util['task']})", barmode="group",
                          height=380, template="plotly_white", yaxis=dict(range=[0, 1.05] if util["task"] == "classification" else None))
        figures["utility"] = fig
        fi = util["feature_importance"]
        order = sorted(range(len(fi["features"])), key=lambda i: -fi["real"][i])[:15][::-1]
        fig = go.Figure([
            go.Bar(name="real-trained", y=[fi["features"][i] for i in order], x=[fi["real"][i] for i in order], orientation="h", marker_color=_REAL),
            go.Bar(name="synthetic-trained", y=[fi["features"][i] for i in order], x=[fi["synthetic"][i] for i in order], orientation="h", marker_color=_SYN),
        ])
        fig.update_layout(title="Permutation importance (top 15 of the real-trained model)", barmode="group",
                          height=max(320, 28 * len(order) + 120), template="plotly_white", margin=dict(l=160))
        figures["importance"] = fig
    priv = report.get("privacy")
    if priv:
        hist = priv.get("histograms", {})
        traces = []
        for key, label, colour in (("syn_to_train", "synthetic to training", _SYN),
                                   ("syn_to_holdout", "synthetic to holdout", _REAL),
                                   ("holdout_to_train", "holdout to training", _HOLD)):
            h = hist.get(key)
            if not h:
                continue
            edges, counts = h["edges"], h["counts"]
            total = max(sum(counts), 1)
            centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
            traces.append(go.Bar(name=label, x=centres, y=[c / total for c in counts], marker_color=colour, opacity=0.6,
                                 width=[b - a for a, b in zip(edges[:-1], edges[1:])]))
        if traces:
            fig = go.Figure(traces)
            fig.update_layout(title="Distance to closest record", barmode="overlay", height=380, template="plotly_white",
                              xaxis_title="distance", yaxis_title="share of rows")
            figures["dcr"] = fig
        attacks = priv.get("attacks") or []
        if attacks:
            fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=_HOLD), name="chance")])
            for a in attacks:
                fig.add_trace(go.Scatter(x=a["roc"]["fpr"], y=a["roc"]["tpr"], mode="lines+markers",
                                         name=f"{a['name']} (AUC {a['auc']:.3f})" if a.get("auc") is not None else a["name"]))
            fig.update_layout(title="Membership-inference attacks: ROC", height=380, template="plotly_white",
                              xaxis_title="false positive rate", yaxis_title="true positive rate")
            figures["mia_roc"] = fig
    return figures


def _distribution_figure(go: Any, name: str, dist: dict[str, Any]) -> Any:
    if dist["kind"] == "categorical":
        x = dist["labels"]
        fig = go.Figure([
            go.Bar(name="real", x=x, y=dist["real"], marker_color=_REAL),
            go.Bar(name="synthetic", x=x, y=dist["synthetic"], marker_color=_SYN),
        ])
        fig.update_layout(barmode="group")
        title = name
    else:
        edges = dist["edges"]
        starts = edges[:-1]
        if dist["kind"] == "numeric":
            x = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
            width = [b - a for a, b in zip(edges[:-1], edges[1:])]
        else:
            x, width = starts, None
        fig = go.Figure([
            go.Bar(name="real", x=x, y=dist["real"], width=width, marker_color=_REAL, opacity=0.6),
            go.Bar(name="synthetic", x=x, y=dist["synthetic"], width=width, marker_color=_SYN, opacity=0.6),
        ])
        fig.update_layout(barmode="overlay", bargap=0)
        nulls = ""
        if dist.get("null_real") or dist.get("null_synthetic"):
            nulls = f" (null: real {dist['null_real']:.1%}, synthetic {dist['null_synthetic']:.1%})"
        title = name + nulls
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=260, margin=dict(l=40, r=10, t=40, b=40),
                      showlegend=False, template="plotly_white", yaxis_title="share")
    return fig


def _figure_json(fig: Any) -> str:
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder, separators=(",", ":"))
    # no "</script>", "<!--" or "&" reaches the HTML parser from the data
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ----------------------------------------------------------------------------- the page

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:16px 0}
h1{margin:0 0 4px 0;font-size:26px} h2{margin-top:0;font-size:20px} h3{font-size:16px}
table{border-collapse:collapse;width:100%;font-size:14px} th,td{border-bottom:1px solid #d8dee4;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.verdict{font-size:18px;padding:4px 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:140px}
.card .v{font-size:26px;font-weight:600} .card .k{color:#57606a;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:8px}
.muted{color:#57606a;font-size:13px} li{margin:6px 0} code{background:#eff1f3;padding:1px 4px;border-radius:4px}
details summary{cursor:pointer;font-weight:600;margin:8px 0}
"""


def _badge(status: str, extra: str = "") -> str:
    colour = _STATUS_COLOUR.get(status, "#6e7781")
    return f'<span class="badge {extra}" style="background:{colour}">{_esc(status)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table; the ``numeric`` columns are right-aligned, their header cells with them (class ``num``)."""
    numeric = numeric or set()
    if any(len(row) != len(headers) for row in rows):
        raise ValueError(f"a table row has other cells than its {len(headers)} headers")  # a bug of the report page
    head = "".join(f'<th class="num">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fig_div(key: str, ids: dict[str, str]) -> str:
    if key not in ids:
        return ""
    return f'<div class="fig" id="{ids[key]}"></div>'


def _interval(gate: dict[str, Any]) -> str:
    """``[lower, upper] (95%)`` of a gate, or a dash for a gate without an error bar (or a report from before them)."""
    if gate.get("lower") is None or gate.get("upper") is None:
        return "—"
    level = f" ({gate['confidence']:.0%})" if gate.get("confidence") is not None else ""
    return f"[{_fmt(gate['lower'], 3)}, {_fmt(gate['upper'], 3)}]{level}"


def _samples(gate: dict[str, Any]) -> str:
    """The rows a gate's value was measured on, e.g. ``real 4,000 · synthetic 4,000``."""
    return " · ".join(f"{k.replace('_rows', '').replace('_', ' ')} {v:,}" for k, v in (gate.get("samples") or {}).items())


def render_html(report: dict[str, Any]) -> str:
    """The standalone page of a report dict (``QualityReport.to_dict()``)."""
    from plotly.offline import get_plotlyjs

    figures = build_figures(report)
    ids = {key: f"fig-{i}" for i, key in enumerate(figures)}
    status = report["status"]
    verdict = {"pass": "Passed", "warn": "Passed with warnings", "block": "Blocked"}[status]
    unsure = [g["name"] for g in report["gates"] if g.get("status") == "inconclusive"]
    if unsure:
        verdict += f" ({len(unsure)} gate(s) inconclusive: too few rows to tell)"
    rows = report["inputs"]["rows"]
    parts: list[str] = []

    # header ------------------------------------------------------------------------------
    cards = "".join(
        f'<div class="card"><div class="v">{_fmt(report["scores"].get(k), 2)}</div><div class="k">{k} score</div></div>'
        for k in ("overall", "fidelity", "utility", "privacy")
    )
    hold = f", holdout {rows['holdout']:,}" if rows.get("holdout") else ", no holdout"
    parts.append(
        f'<section id="summary"><h1>Synthetic data quality report</h1>'
        f'<div>{_badge(status, "verdict")} <strong>{verdict}</strong></div>'
        f'<p class="muted">Rows: real {rows["real"]:,}, synthetic {rows["synthetic"]:,}{hold}. '
        f'Metrics version {_esc(report["metrics_version"])}, engine {_esc(report["engine_version"])}, '
        f'created {_esc(report["created_at"])}.</p><div class="cards">{cards}</div></section>'
    )

    # gates and recommendations --------------------------------------------------------------
    gate_rows = [
        [_badge(g["status"]), _esc(g["pillar"]), f"<code>{_esc(g['name'])}</code><br><span class='muted'>{_esc(g['metric'])}</span>",
         _fmt(g["value"], 4), _interval(g), f"{_esc(g['comparison'])} {_fmt(float(g['threshold']), 3)}",
         _fmt(g["reference"], 4), _esc(_samples(g)), _esc(g["message"])]
        for g in report["gates"]
    ]
    parts.append('<section id="gates"><h2>Gates</h2>'
                 + _table(["status", "pillar", "gate / metric", "value", "error bar", "threshold", "holdout", "rows",
                           "detail"], gate_rows, {3, 6})
                 + "</section>")
    recs = "".join(f"<li>{_esc(r)}</li>" for r in report["recommendations"])
    parts.append(f'<section id="recommendations"><h2>Recommendations</h2><ul>{recs}</ul></section>')

    # fidelity ------------------------------------------------------------------------------
    fid = report.get("fidelity")
    if fid:
        acc = fid["accuracy"]
        ceiling = acc.get("ceiling") or {}
        gap = acc.get("gap") or {}
        acc_rows = [[lvl, _fmt(acc.get(lvl)), _fmt(ceiling.get(lvl)), _fmt(gap.get(lvl))]
                    for lvl in ("univariate", "bivariate", "trivariate", "overall")]
        col_rows = [[_esc(c["name"]), _esc(c["kind"]), c["metric"].upper(), _fmt(c["distance"]), _fmt(c.get("holdout_distance")),
                     f"{c['null_share_real']:.1%} / {c['null_share_synthetic']:.1%}", _fmt(c["accuracy"]), _fmt(c.get("accuracy_ceiling"))]
                    for c in fid["columns"]]
        pair_rows = [[_esc(" x ".join(p["columns"])), _esc(p["measure"]), _fmt(p["measures"][p["measure"]]["real"]),
                      _fmt(p["measures"][p["measure"]]["synthetic"]), _fmt(p["difference"]), _fmt(p.get("holdout_difference")),
                      _fmt(p["contingency_similarity"])]
                     for p in fid["pairs"]["largest_differences"]]
        dist = "".join(_fig_div(k, ids) for k in figures if k.startswith("distribution:"))
        heat = "".join(_fig_div(k, ids) for k in ("association_real", "association_synthetic", "association_difference"))
        parts.append(
            '<section id="fidelity"><h2>Fidelity</h2>'
            '<h3>Binned accuracy (mostlyai-qa definition) and the ceiling a real sample reaches</h3>'
            + _table(["level", "synthetic", "ceiling (holdout)", "gap"], acc_rows, {1, 2, 3})
            + f'<p class="muted">Trivariate accuracy over {acc["triples_sampled"]:,} of {acc["triples_total"]:,} column triples.</p>'
            + "<h3>Per column</h3>"
            + _table(["column", "kind", "metric", "distance", "holdout distance", "nulls real / synthetic", "accuracy", "ceiling"],
                     col_rows, {3, 4, 5, 6, 7})
            + f'<h3>Largest pair differences ({fid["pairs"]["compared"]:,} of {fid["pairs"]["total"]:,} pairs compared)</h3>'
            + _table(["pair", "measure", "real", "synthetic", "difference", "holdout difference", "contingency similarity"],
                     pair_rows, {2, 3, 4, 5, 6})
            + '<h3>Associations</h3><p class="muted">Pearson r for numeric pairs, bias-corrected Cramér\'s V for '
            "categorical pairs, correlation ratio for mixed pairs.</p>"
            + f'<div class="grid" style="grid-template-columns:1fr">{heat}</div>'
            + f'<h3>Distributions: real (blue) and synthetic (orange)</h3><div class="grid">{dist}</div></section>'
        )

    # utility -------------------------------------------------------------------------------
    util = report.get("utility")
    if util:
        metric_rows = [[k.upper(), _fmt(util["trtr"][k], 4), _fmt(util["tstr"][k], 4), _fmt(util["ratio"].get(k))]
                       for k in util["trtr"]]
        fi = util["feature_importance"]
        parts.append(
            '<section id="utility"><h2>Utility: train on synthetic, test on real</h2>'
            f'<p>Target <code>{_esc(util["target"])}</code> ({_esc(util["target_source"])}), {_esc(util["task"])}; '
            f'learner: {_esc(util["learner"])}; tested on the {_esc(util["test_source"])} '
            f'({util["rows"]["test"]:,} rows).</p>'
            + _table(["metric", "TRTR (real-trained)", "TSTR (synthetic-trained)", "ratio"], metric_rows, {1, 2, 3})
            + f'<p>Feature-importance rank agreement (Spearman): <strong>{_fmt(fi["rank_agreement"])}</strong>; '
            f'top-5 overlap {_fmt(fi["top_overlap"], 2)}.</p>'
            + _fig_div("utility", ids) + _fig_div("importance", ids) + "</section>"
        )

    # privacy -------------------------------------------------------------------------------
    priv = report.get("privacy")
    if priv:
        metric_rows = [[f"<code>{_esc(k)}</code>", _fmt(v, 4)] for k, v in priv.get("metrics", {}).items()]
        parts.append(
            '<section id="privacy"><h2>Privacy</h2>'
            + _fig_div("dcr", ids) + _fig_div("mia_roc", ids)
            + "<details><summary>All privacy metrics</summary>" + _table(["metric", "value"], metric_rows, {1}) + "</details>"
            + "</section>"
        )

    # notes and definitions -------------------------------------------------------------------
    notes = "".join(f"<li>{_esc(n)}</li>" for n in report.get("notes", []))
    formulas = "".join(f"<li><strong>{_esc(k)}</strong>: {_esc(v)}</li>" for k, v in report.get("score_formulas", {}).items())
    defs = _table(["metric", "version", "definition"],
                  [[f"<code>{_esc(k)}</code>", _esc(v.get("version")), _esc(v.get("text"))] for k, v in report.get("definitions", {}).items()])
    timings = ", ".join(f"{_esc(k)} {v:.1f} s" for k, v in report.get("timings", {}).items())
    columns = _table(["column", "kind", "why"], [[_esc(c["name"]), _esc(c["kind"]), _esc(c["reason"])] for c in report["inputs"]["columns"]])
    parts.append(
        '<section id="notes"><h2>Notes</h2>'
        f"<ul>{notes or '<li>none</li>'}</ul><h3>Scores</h3><ul>{formulas}</ul>"
        f"<details><summary>Columns and their kinds</summary>{columns}</details>"
        f"<details><summary>Metric definitions (version {_esc(report['metrics_version'])})</summary>{defs}</details>"
        f'<p class="muted">Timings: {timings}.</p></section>'
    )

    scripts = "\n".join(
        f"Plotly.newPlot({json.dumps(ids[k])},(f={_figure_json(fig)}).data,f.layout,{{responsive:true,displaylogo:false}});"
        for k, fig in figures.items()
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Doppel quality report: {verdict}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body><main>"
        + "".join(parts)
        + f"</main><script>(function(){{var f;\n{scripts}\n}})();</script></body></html>\n"
    )

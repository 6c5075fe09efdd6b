"""A schema's quality report (``SchemaReport.to_dict()``) as one standalone HTML page.

The page holds what the workbench's Quality page shows of a schema: the verdict and the
schema gates; across tables, referential integrity and cardinality per relation, the
inter-table trends (the counted parent x child column pairs), the child aggregates per
relation and the subtree figures (utility and privacy of each parent table with its
children); then each table's own report in brief (verdict, scores, gates, per-column
distances, utility, notes). It needs no script and nothing from the network, so it opens
offline; every text from the data (table, column and category names) is HTML-escaped.
"""

from __future__ import annotations

from typing import Any

from engine.quality.html_parts import BASE_CSS, GATE_HEADERS, VERDICT, badge, gate_rows, html_table
from engine.quality.html_parts import esc as _esc
from engine.quality.html_parts import num as _num

_CSS = BASE_CSS + "details summary{cursor:pointer;font-weight:600;margin:8px 0}\n"

def counted_trends(cross: dict[str, Any]) -> list[dict[str, Any]]:
    """The inter-table trend pairs that count (the real trend is strong enough), weakest first."""
    pairs = [p for p in (cross.get("intertable_trends") or {}).get("pairs") or [] if p.get("counted")]
    return sorted(pairs, key=lambda p: (p.get("score") is None, p.get("score") or 0.0))


def _cross_section(document: dict[str, Any]) -> str:
    cross = document.get("cross") or {}
    integrity = [[_esc(rel), _num(v, 4)] for rel, v in (cross.get("referential_integrity") or {}).items()]
    cardinality = [[_esc(rel), _num(v.get("shape_similarity")), _num(v.get("within_range"))]
                   for rel, v in (cross.get("cardinality") or {}).items()]
    trends = [[_esc(p.get("relation")), _esc(p.get("parent_column")), _esc(p.get("child_column")), _esc(p.get("metric")),
               _num(p.get("real")), _num(p.get("score"))] for p in counted_trends(cross)]
    aggregates = [[_esc(rel), _num(v.get("score")), _esc(len(v.get("aggregates") or {}))]
                  for rel, v in ((cross.get("child_aggregates") or {}).get("relations") or {}).items()]
    return (
        '<section id="across"><h2>Across tables</h2>'
        f'<p>Cardinality shape similarity <strong>{_num(cross.get("cardinality_shape_similarity"))}</strong> · '
        f'inter-table trends <strong>{_num((cross.get("intertable_trends") or {}).get("score"))}</strong> · '
        f'child aggregates <strong>{_num((cross.get("child_aggregates") or {}).get("score"))}</strong></p>'
        "<h3>Referential integrity</h3>" + html_table(["relation", "share of child rows with a synthetic parent"],
                                                  integrity, {1})
        + "<h3>Cardinality: children per parent</h3>"
        + html_table(["relation", "shape similarity (1 - KS)", "share within the real range"], cardinality, {1, 2})
        + "<h3>Inter-table trends (counted pairs)</h3>"
        + html_table(["relation", "parent column", "child column", "measure", "real strength", "similarity"], trends, {4, 5})
        + "<h3>Child aggregates (per parent: count, means, category shares; 1 - KS)</h3>"
        + html_table(["relation", "similarity", "aggregates"], aggregates, {1, 2})
        + "</section>"
    )


def subtree_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per parent table: its subtree utility (TSTR gap) and privacy (DCR share, attack advantage)."""
    rows = []
    for name, figures in (document.get("subtrees") or {}).items():
        rows.append({"parent table": name, "target": figures.get("target"), "metric": figures.get("primary_metric"),
                     "TSTR": figures.get("tstr"), "TRTR": figures.get("trtr"), "TSTR gap": figures.get("tstr_gap"),
                     "DCR share": figures.get("dcr_share"), "attack advantage": figures.get("mia_advantage")})
    return rows


def _subtree_section(document: dict[str, Any]) -> str:
    rows = subtree_rows(document)
    if not rows:
        return ""
    cells = [[_esc(r["parent table"]), _esc(r["target"] or "—"), _esc(r["metric"] or "—"), _num(r["TSTR"]),
              _num(r["TRTR"]), _num(r["TSTR gap"]), _num(r["DCR share"]), _num(r["attack advantage"])] for r in rows]
    return ('<section id="subtrees"><h2>Parent subtrees: utility and privacy</h2>'
            '<p class="muted">Each parent row with its children\'s aggregates: a model predicts a parent column '
            "(trained on synthetic, tested on real: TSTR; trained on real: TRTR); the DCR share and the membership "
            "attack compare the synthetic subtrees with the training and holdout ones.</p>"
            + html_table(["parent table", "target", "metric", "TSTR", "TRTR", "TSTR gap", "DCR share",
                      "attack advantage"], cells, {3, 4, 5, 6, 7}) + "</section>")


def _table_section(index: int, name: str, report: dict[str, Any]) -> str:
    scores = report.get("scores") or {}
    cards = " · ".join(f"{k} <strong>{_num(scores.get(k), 2)}</strong>" for k in ("overall", "fidelity", "utility",
                                                                                    "privacy"))
    columns = [[_esc(c.get("name")), _esc(c.get("kind")), _esc(str(c.get("metric", "")).upper()), _num(c.get("distance")),
                _num(c.get("holdout_distance"))] for c in (report.get("fidelity") or {}).get("columns") or []]
    utility = report.get("utility")
    util = ""
    if utility:
        util = (f"<p>Utility: target <code>{_esc(utility.get('target'))}</code> ({_esc(utility.get('task'))}); "
                f"TSTR {_esc(', '.join(f'{k} {_num(v)}' for k, v in (utility.get('tstr') or {}).items()))}; "
                f"TRTR {_esc(', '.join(f'{k} {_num(v)}' for k, v in (utility.get('trtr') or {}).items()))}.</p>")
    notes = "".join(f"<li>{_esc(n)}</li>" for n in report.get("notes") or [])
    rows = (report.get("inputs") or {}).get("rows") or {}
    return (
        f'<section id="table-{index}"><h2>Table <code>{_esc(name)}</code> {badge(report.get("status"))}</h2>'
        f'<p class="muted">Rows: real {_num(rows.get("real"))}, synthetic {_num(rows.get("synthetic"))}, '
        f'holdout {_num(rows.get("holdout"))}.</p><p>{cards}</p>'
        + html_table(GATE_HEADERS, gate_rows(report.get("gates") or []),
                 {3})
        + "<details><summary>Per column</summary>"
        + html_table(["column", "kind", "metric", "distance", "holdout distance"], columns, {3, 4}) + "</details>"
        + util + (f"<details><summary>Notes</summary><ul>{notes}</ul></details>" if notes else "") + "</section>"
    )


def render_schema_html(document: dict[str, Any]) -> str:
    """The standalone page of a schema report dict (``SchemaReport.to_dict()``)."""
    status = str(document.get("status", "block"))
    verdict = VERDICT.get(status, status)
    tables = document.get("tables") or {}
    relations = (document.get("keys") or {}).get("foreign_keys") or []
    rows = (document.get("inputs") or {}).get("rows") or {}
    counts = (f'Rows in all: real {_num(rows.get("real"))}, synthetic {_num(rows.get("synthetic"))}, holdout '
              f'{_num(rows.get("holdout"))}. ') if rows else ""
    parts = [
        f'<section id="summary"><h1>Synthetic schema quality report</h1><div>{badge(status)} <strong>{verdict}</strong>'
        f'</div><p class="muted">{len(tables)} tables, {len(relations)} relations ('
        + _esc("; ".join(str(r) for r in relations))
        + f'). {counts}Engine {_esc(document.get("engine_version", ""))}, created {_esc(document.get("created_at", ""))}.'
        "</p></section>",
        '<section id="gates"><h2>Schema gates</h2>'
        + html_table(GATE_HEADERS, gate_rows(document.get("gates") or []),
                 {3})
        + "<h3>Tables</h3>"
        + html_table(["table", "status", "overall", "fidelity", "utility", "privacy"],
                 [[f'<a href="#table-{i}">{_esc(name)}</a>', badge(r.get("status"))]
                  + [_num((r.get("scores") or {}).get(k), 2) for k in ("overall", "fidelity", "utility", "privacy")]
                  for i, (name, r) in enumerate(tables.items())], {2, 3, 4, 5})
        + "</section>",
        _cross_section(document),
        _subtree_section(document),
    ]
    parts += [_table_section(i, name, report) for i, (name, report) in enumerate(tables.items())]
    notes = "".join(f"<li>{_esc(n)}</li>" for n in document.get("notes") or [])
    parts.append(f'<section id="notes"><h2>Notes</h2><ul>{notes or "<li>none</li>"}</ul></section>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Doppel schema quality report: {_esc(verdict)}</title><style>{_CSS}</style></head><body><main>"
            + "".join(parts) + "</main></body></html>\n")


__all__ = ["counted_trends", "gate_rows", "render_schema_html", "subtree_rows"]

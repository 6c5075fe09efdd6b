"""The pieces the standalone reports of a schema and of histories are built from: escaping, numbers, badges, tables.

Every value that reaches a page passes through ``esc`` (a column or table name is data, and
data may hold markup). No scripts: the pages are offline files.
"""

from __future__ import annotations

import html
import math
from typing import Any

STATUS_COLOUR = {"pass": "#1a7f37", "warn": "#9a6700", "block": "#cf222e", "inconclusive": "#8250df",
                 "skipped": "#6e7781"}
VERDICT = {"pass": "Passed", "warn": "Passed with warnings", "block": "Blocked"}
BASE_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1200px;margin:0 auto;padding:24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:16px 0}
h1{margin:0 0 4px 0;font-size:26px} h2{margin-top:0;font-size:20px} h3{font-size:16px}
table{border-collapse:collapse;width:100%;font-size:14px;margin-bottom:8px}
th,td{border-bottom:1px solid #d8dee4;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.muted{color:#57606a;font-size:13px} code{background:#eff1f3;padding:1px 4px;border-radius:4px}
"""
GATE_HEADERS = ["status", "pillar", "gate", "value", "threshold", "detail"]


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A number for a table cell: thousands for integers, ``digits`` decimals, "n/a" for None or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else esc(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def badge(status: Any) -> str:
    colour = STATUS_COLOUR.get(str(status), "#6e7781")
    return f'<span class="badge" style="background:{colour}">{esc(status)}</span>'


def html_table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """An HTML table; cells are already escaped, the ``numeric`` columns right-aligned."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gate_rows(gates: list[dict[str, Any]]) -> list[list[str]]:
    """One row per gate, in ``GATE_HEADERS``' order: status, pillar, name, value, threshold, message (escaped)."""
    return [[badge(g.get("status")), esc(g.get("pillar", "")), f"<code>{esc(g.get('name', ''))}</code>",
             num(g.get("value"), 4), f"{esc(g.get('comparison', ''))} {num(g.get('threshold'), 4)}",
             esc(g.get("message") or "")] for g in gates if isinstance(g, dict)]


__all__ = ["BASE_CSS", "GATE_HEADERS", "STATUS_COLOUR", "VERDICT", "badge", "esc", "gate_rows", "html_table", "num"]

"""Order and cycles of the key graph, on table names only.

Edges are ``(child, parent)`` pairs, one per foreign key. The graph has a handful of tables,
so plain Python over the edges is the right tool here; no frame is touched.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_cycle(tables: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str] | None:
    """A cycle along the edges as ``[a, b, ..., a]`` (each points at the next), or None.

    Depth-first from each table in the given order, so the cycle reported is stable.
    """
    parents: dict[str, list[str]] = {t: [] for t in tables}
    for child, parent in edges:
        parents.setdefault(child, []).append(parent)
        parents.setdefault(parent, [])
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in parents:
        if state.get(start):
            continue
        path: list[str] = [start]
        stack = [iter(parents[start])]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(parents[nxt]))
    return None


def topological_order(tables: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    """Every table with its parents before it; ties keep the order of ``tables``.

    ValueError on a cycle (callers check with :func:`find_cycle` first, to name it).
    """
    waiting = {t: 0 for t in tables}
    for child, _ in edges:
        waiting[child] += 1
    order: list[str] = []
    ready = [t for t in tables if waiting[t] == 0]
    while ready:
        table = ready.pop(0)
        order.append(table)
        for child, parent in edges:
            if parent == table:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        ready.sort(key=list(tables).index)
    if len(order) != len(waiting):
        raise ValueError("the key graph has a cycle; no order puts every parent first")
    return order

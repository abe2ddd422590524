"""The DAG drawn in layers: positions of HTML boxes and SVG edge paths, computed in Python.

Layering: longest path from the sources (a node's layer is one more than its deepest
dependency's), the first phase of Sugiyama et al.'s layered drawing ("Methods for Visual
Understanding of Hierarchical System Structures", IEEE SMC 1981). Within a layer, nodes are
ordered by the mean row of their dependencies (one barycentre sweep), which removes most
crossings of the small DAGs workflows have. Fan-out instances (``step[i]``) are never drawn one
by one: their step is one box with counts per status, so a 1,000-instance fan-out is one node.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NODE_WIDTH_PX = 190
NODE_HEIGHT_PX = 58
GAP_X_PX = 64
GAP_Y_PX = 22
PAD_PX = 8

INSTANCE = re.compile(r"^(?P<step>.+)\[(?P<index>\d+)\]$")
"""A fan-out instance's name: ``step[i]``."""

_ORDER = ("failed", "running", "retrying", "waiting", "pending", "cancelled", "skipped",
          "succeeded")  # fmt: skip


def node_id(step: str) -> str:
    """A DOM id for a step (step names may hold characters that ids and selectors dislike)."""
    return "n-" + hashlib.sha1(step.encode(), usedforsecurity=False).hexdigest()[:12]


def split_instance(name: str) -> tuple[str, int | None]:
    """``("step", i)`` for ``step[i]``, ``(name, None)`` otherwise."""
    m = INSTANCE.match(name)
    return (m["step"], int(m["index"])) if m else (name, None)


@dataclass(slots=True)
class Node:
    """One box of the drawing.

    Attributes:
        name: The step.
        dom_id: Its DOM id (:func:`node_id`).
        layer, row: Grid position; ``x``, ``y`` in pixels.
        status: The step's status (``pending`` when unknown).
        options: The step's options from ``Workflow.describe()`` (streams, map_over, ...).
        counts: For a fan-out step, instances by status (empty otherwise).
        instances: For a fan-out step, how many instances are known.
        attempts: Attempts started (0 when unknown).
    """

    name: str
    dom_id: str
    layer: int = 0
    row: int = 0
    x: int = 0
    y: int = 0
    status: str = "pending"
    options: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    instances: int = 0
    attempts: int = 0

    @property
    def fanout(self) -> bool:
        """Whether the step maps over a list (instances collapsed into this box)."""
        return bool(self.options.get("map_over")) or self.instances > 0

    @property
    def counts_text(self) -> str:
        """``"12 succeeded · 3 running"``: the instance counts, worst first."""
        ordered = sorted(self.counts.items(), key=lambda kv: _ORDER.index(kv[0])
                         if kv[0] in _ORDER else len(_ORDER))  # fmt: skip
        return " · ".join(f"{n} {s}" for s, n in ordered)


@dataclass(slots=True)
class Layout:
    """The drawing: boxes, edge paths (SVG ``d`` strings) and the canvas size in pixels."""

    nodes: list[Node]
    edges: list[str]
    width: int
    height: int

    def node(self, name: str) -> Node | None:
        """The box of ``name``, if drawn."""
        return next((n for n in self.nodes if n.name == name), None)


def layers(names: list[str], deps: Mapping[str, list[str]]) -> dict[str, int]:
    """Longest-path layering: sources are 0, every node one past its deepest dependency.

    Args:
        names: Every node.
        deps: ``{node: [dependencies]}`` (edges to unknown nodes are ignored).

    Returns:
        ``{node: layer}``. Nodes on a cycle (not possible for a checked workflow) get layer 0.
    """
    known = set(names)
    indegree = {n: sum(1 for d in deps.get(n, ()) if d in known) for n in names}
    children: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        for d in deps.get(n, ()):
            if d in known:
                children[d].append(n)
    layer = dict.fromkeys(names, 0)
    ready = [n for n in names if indegree[n] == 0]
    while ready:
        n = ready.pop()
        for c in children[n]:
            layer[c] = max(layer[c], layer[n] + 1)
            indegree[c] -= 1
            if indegree[c] == 0:
                ready.append(c)
    return layer


def aggregate(statuses: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Counter[str]]]:
    """Split live step statuses into steps' own and fan-out instances' counts by step.

    Returns:
        ``({step: status}, {step: Counter(status -> instances)})``.
    """
    own: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {}
    for name, status in statuses.items():
        step, index = split_instance(name)
        if index is None:
            own[name] = status
        else:
            counts.setdefault(step, Counter())[status] += 1
    return own, counts


def layout(
    description: Mapping[str, Any],
    statuses: Mapping[str, str] | None = None,
    attempts: Mapping[str, int] | None = None,
) -> Layout:
    """Lay out a workflow's DAG, coloured by live statuses.

    Args:
        description: ``Workflow.describe()``: ``nodes`` (``name`` and options) and ``edges``
            (``from``, ``to``).
        statuses: ``{step or step[i]: status}``; instances are counted on their step's box.
        attempts: ``{step: attempts started}``.

    Returns:
        The :class:`Layout`.
    """
    specs = {n["name"]: n for n in description.get("nodes", [])}
    names = list(specs)
    deps: dict[str, list[str]] = {n: [] for n in names}
    for e in description.get("edges", []):
        if e["to"] in deps:
            deps[e["to"]].append(e["from"])
    own, counts = aggregate(statuses or {})
    for name in list(own) + list(counts):
        if name not in deps:  # a step the registry does not know (another version)
            names.append(name)
            deps[name] = []
    layer_of = layers(names, deps)
    by_layer: dict[int, list[str]] = {}
    for n in names:
        by_layer.setdefault(layer_of[n], []).append(n)
    row_of: dict[str, float] = {}
    for lay in sorted(by_layer):
        members = by_layer[lay]
        if lay > 0:

            def centre(n: str) -> float:
                rows = [row_of[d] for d in deps[n] if d in row_of]
                return sum(rows) / len(rows) if rows else 0.0

            members.sort(key=centre)
        for i, n in enumerate(members):
            row_of[n] = i
    nodes: list[Node] = []
    for n in names:
        opts = {k: v for k, v in specs.get(n, {}).items() if k != "name"}
        c = counts.get(n, Counter())
        node = Node(name=n, dom_id=node_id(n), layer=layer_of[n], row=int(row_of[n]),
                    options=opts, counts=dict(c), instances=sum(c.values()),
                    attempts=(attempts or {}).get(n, 0))  # fmt: skip
        node.status = own.get(n) or _group_status(c)
        node.x = PAD_PX + node.layer * (NODE_WIDTH_PX + GAP_X_PX)
        node.y = PAD_PX + node.row * (NODE_HEIGHT_PX + GAP_Y_PX)
        nodes.append(node)
    where = {n.name: n for n in nodes}
    edges: list[str] = []
    for n in names:
        for d in deps[n]:
            a, b = where[d], where[n]
            x1, y1 = a.x + NODE_WIDTH_PX, a.y + NODE_HEIGHT_PX // 2
            x2, y2 = b.x, b.y + NODE_HEIGHT_PX // 2
            mid = (x1 + x2) // 2
            edges.append(f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}")
    width = PAD_PX * 2 + (max(layer_of.values(), default=0) + 1) * (NODE_WIDTH_PX + GAP_X_PX)
    rows = max((len(m) for m in by_layer.values()), default=1)
    height = PAD_PX * 2 + rows * (NODE_HEIGHT_PX + GAP_Y_PX)
    return Layout(nodes, edges, width - GAP_X_PX, height - GAP_Y_PX)


def _group_status(counts: Counter[str]) -> str:
    """A fan-out step's status from its instances' when it has none of its own."""
    if not counts:
        return "pending"
    for status in ("failed", "running", "waiting", "retrying"):
        if counts.get(status):
            return status
    if counts.get("succeeded") == sum(counts.values()):
        return "succeeded"
    return "running" if counts.get("succeeded") else "pending"


__all__ = [
    "INSTANCE",
    "Layout",
    "Node",
    "aggregate",
    "layers",
    "layout",
    "node_id",
    "split_instance",
]

"""The layered DAG layout (longest-path layers, fan-out instances collapsed)."""

from __future__ import annotations

from gateway.ui.layout import NODE_WIDTH_PX, aggregate, layers, layout, node_id, split_instance
from tests.e2e.dashboard import flows


def test_layers_are_the_longest_path_from_the_sources() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}
    assert layers(["a", "b", "c", "d"], deps) == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_the_seed_shaped_workflow_is_drawn_in_three_layers_with_its_edges() -> None:
    graph = layout(flows.ui_brief.describe())
    by = {n.name: n for n in graph.nodes}
    assert by["fetch_context"].layer == by["fetch_capiq"].layer == 0
    assert (by["run_llm"].layer, by["render_doc"].layer) == (1, 2)
    assert by["run_llm"].x > by["fetch_context"].x + NODE_WIDTH_PX
    assert by["fetch_context"].y != by["fetch_capiq"].y
    assert len(graph.edges) == 3 and all(e.startswith("M") for e in graph.edges)
    assert {n.status for n in graph.nodes} == {"pending"}
    assert graph.width >= by["render_doc"].x + NODE_WIDTH_PX


def test_a_thousand_fan_out_instances_are_one_box_with_counts() -> None:
    statuses = {f"work[{i}]": "succeeded" for i in range(990)}
    statuses |= {f"work[{i}]": "running" for i in range(990, 1000)}
    statuses |= {"make_items": "succeeded"}
    graph = layout(flows.ui_fanout.describe(), statuses)
    assert [n.name for n in graph.nodes] == ["make_items", "work", "total"]
    work = graph.node("work")
    assert work is not None and work.fanout
    assert work.instances == 1000 and work.counts == {"succeeded": 990, "running": 10}
    assert work.status == "running"
    assert work.counts_text == "10 running · 990 succeeded"


def test_a_fan_out_step_keeps_its_own_status_when_it_has_one() -> None:
    own, counts = aggregate({"work": "succeeded", "work[0]": "failed", "work[1]": "succeeded"})
    assert own == {"work": "succeeded"} and counts["work"] == {"failed": 1, "succeeded": 1}
    graph = layout(flows.ui_fanout.describe(), {"work": "succeeded", "work[0]": "succeeded"})
    assert graph.node("work").status == "succeeded"  # type: ignore[union-attr]


def test_steps_unknown_to_the_registry_are_still_drawn() -> None:
    graph = layout({"nodes": [], "edges": []}, {"old_step": "succeeded"})
    assert [(n.name, n.status) for n in graph.nodes] == [("old_step", "succeeded")]


def test_instance_names_and_dom_ids() -> None:
    assert split_instance("work[12]") == ("work", 12)
    assert split_instance("work") == ("work", None)
    assert node_id('a b"<') == node_id('a b"<') != node_id("a b")
    assert node_id("x").replace("-", "").isalnum()

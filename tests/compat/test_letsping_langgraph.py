"""Their `LetsPingCheckpointer` drives a real LangGraph graph through an interrupt and a
resume, with its checkpoints kept by `handrail serve` (no LLM)."""

from typing import TypedDict

import httpx
from langgraph.graph import END, START, StateGraph
from letsping import LetsPing
from letsping.integrations.langgraph import LetsPingCheckpointer

# Their checkpointer implements `put`, `get_tuple` and `list` but not `put_writes`, so LangGraph
# must only save whole checkpoints: durability "exit" (a checkpoint when the run stops, at the
# interrupt and at the end) and a static interrupt (`interrupt_before`), because a dynamic
# `interrupt()` is saved as a pending write, which their checkpointer cannot store.
DURABILITY = "exit"


class State(TypedDict):
    amount: int
    request_id: str
    done: str


def graph(lp, checkpointer):
    """Plan asks LetsPing for approval (without waiting); the graph stops before `act`."""

    def plan(state: State):
        rid = lp.defer(service="refund-graph", action="refund", payload={"amount": state["amount"] * 2})
        return {"amount": state["amount"] * 2, "request_id": rid}

    def act(state: State):
        status = lp.get_request_status(state["request_id"])["status"]
        return {"done": "refunded" if status == "APPROVED" else "skipped"}

    g = StateGraph(State)
    g.add_node("plan", plan)
    g.add_node("act", act)
    g.add_edge(START, "plan")
    g.add_edge("plan", "act")
    g.add_edge("act", END)
    return g.compile(checkpointer=checkpointer, interrupt_before=["act"])


def remote(server, thread_id, **params):
    return httpx.get(
        server.url + "/compat/letsping/api/langgraph/checkpoints",
        params={"thread_id": thread_id, **params},
        headers={"Authorization": f"Bearer {server.agent_key}"},
    )


def test_interrupt_then_resume_from_the_server(server):
    base = server.url + "/compat/letsping/api/"
    config = {"configurable": {"thread_id": "refund-42"}}
    with LetsPing(api_key=server.agent_key, base_url=base) as lp:
        app = graph(lp, LetsPingCheckpointer(lp))
        first = app.invoke({"amount": 21, "request_id": "", "done": ""}, config, durability=DURABILITY)
    assert first["amount"] == 42 and first["done"] == ""
    stored = remote(server, "refund-42", latest="1")
    assert stored.status_code == 200
    values = stored.json()["checkpoint"]["channel_values"]
    assert values["amount"] == 42
    server.approve(values["request_id"])

    # A new process: a fresh client and checkpointer, with nothing in memory, resumes from
    # what the server kept.
    with LetsPing(api_key=server.agent_key, base_url=base) as lp:
        app = graph(lp, LetsPingCheckpointer(lp))
        assert app.get_state(config).next == ("act",)
        final = app.invoke(None, config, durability=DURABILITY)
    assert final["done"] == "refunded"
    assert remote(server, "refund-42", latest="1").json()["checkpoint"]["channel_values"]["done"] == "refunded"


def test_checkpoints_are_per_project_and_deletable(server):
    with LetsPing(api_key=server.agent_key, base_url=server.url + "/compat/letsping/api/") as lp:
        saver = LetsPingCheckpointer(lp)
        graph(lp, saver).invoke({"amount": 1, "request_id": "", "done": ""}, {"configurable": {"thread_id": "t-del"}}, durability=DURABILITY)
        latest = remote(server, "t-del", latest="1").json()
        by_id = remote(server, "t-del", checkpoint_id=latest["checkpoint_id"])
        assert by_id.json() == latest
        saver._delete_remote("t-del")
    assert remote(server, "t-del", latest="1").status_code == 404
    unauthenticated = httpx.get(server.url + "/compat/letsping/api/langgraph/checkpoints", params={"thread_id": "refund-42"})
    assert unauthenticated.status_code == 401

"""LangGraph and CrewAI with the real packages (scripted graphs and tools, no LLM),
against a real ``handrail serve``."""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from typing import Any, Dict, List, Optional, Type

import pytest
from typing_extensions import TypedDict

from handrail import Client, Firewall, HandrailError, WebhookError
from handrail.guard import run

from conftest import Deliveries as _Deliveries, Server

langgraph = pytest.importorskip("langgraph")
from langgraph.checkpoint.memory import MemorySaver  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import Command  # noqa: E402

from handrail.integrations.langgraph import gate, resume, resume_command, resume_from_webhook  # noqa: E402


class State(TypedDict, total=False):
    refund: Dict[str, Any]
    handrail: Dict[str, Any]
    done: Optional[str]


def build(client: Client, executed: List[Dict[str, Any]], checkpointer: Any) -> Any:
    def do_refund(state: State) -> Dict[str, Any]:
        executed.append(state["handrail"]["args"])
        return {"done": f"refunded {state['handrail']['args']['amount']}"}

    def route(state: State) -> str:
        return "do_refund" if state["handrail"]["type"] in ("approve", "edit") else END

    g = StateGraph(State)
    g.add_node("approve", gate(client, action="refund", args="refund", service="billing"))
    g.add_node("do_refund", do_refund)
    g.add_edge(START, "approve")
    g.add_conditional_edges("approve", route, ["do_refund", END])
    g.add_edge("do_refund", END)
    return g.compile(checkpointer=checkpointer)


def refund_requests(server: Server) -> List[Dict[str, Any]]:
    rows = server.operator("GET", "/v1/requests?limit=500").json()["requests"]
    return [r for r in rows if r["service"] == "billing"]


def test_langgraph_gate_interrupts_and_resumes_with_the_edit(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    executed: List[Dict[str, Any]] = []
    app = build(client, executed, MemorySaver())
    thread = f"t-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    before = len(refund_requests(clean))

    out = app.invoke({"refund": {"order": "o_1", "amount": 500}}, config)
    (intr,) = out["__interrupt__"]
    assert intr.value["action_requests"] == [
        {"name": "refund", "args": {"order": "o_1", "amount": 500}, "description": "Approve refund?"}
    ]
    assert intr.value["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    request_id = intr.value["handrail_request_id"]
    assert executed == []
    # The thread names the run: a grant "in this thread" covers its later calls.
    assert clean.operator("GET", f"/v1/requests/{request_id}").json()["context"]["thread"] == thread

    clean.resolve(request_id, decision="approve", payload={"order": "o_1", "amount": 50})
    decision = client.wait(request_id)
    assert resume_command(decision, "refund").resume == {
        "decisions": [{"type": "edit", "edited_action": {"name": "refund", "args": {"order": "o_1", "amount": 50}}}]
    }
    out = resume(app, thread, decision)
    assert out["done"] == "refunded 50" and executed == [{"order": "o_1", "amount": 50}]
    assert out["handrail"]["type"] == "edit" and out["handrail"]["request_id"] == request_id
    # The gate ran twice (before and after the interrupt); it opened one request.
    assert len(refund_requests(clean)) == before + 1


def test_langgraph_durable_checkpoint_and_reject(clean: Server, tmp_path: Any) -> None:
    """SqliteSaver: the graph is built again (a restarted worker) before it is resumed."""
    client = Client(clean.url, clean.agent_key)
    executed: List[Dict[str, Any]] = []
    db = str(tmp_path / "graph.db")
    thread = f"t-{uuid.uuid4().hex[:8]}"
    config = {"configurable": {"thread_id": thread}}
    conn = sqlite3.connect(db, check_same_thread=False)
    out = build(client, executed, SqliteSaver(conn)).invoke({"refund": {"order": "o_2", "amount": 9000}}, config)
    conn.close()
    request_id = out["__interrupt__"][0].value["handrail_request_id"]
    clean.resolve(request_id, decision="reject", reason="over the limit")

    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        app = build(client, executed, SqliteSaver(conn))
        out = app.invoke(Command(resume={"decisions": [{"type": "reject", "message": "over the limit"}]}), config)
    finally:
        conn.close()
    assert out["handrail"]["type"] == "reject" and out["handrail"]["message"] == "over the limit"
    assert executed == [] and "done" not in out
    assert len([r for r in refund_requests(clean) if r["id"] == request_id]) == 1


def test_readme_langgraph_example(clean: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    clean.resolve_when_pending(decision="approve", payload={"order": "o_1", "amount": 50})
    # README START
    from langgraph.checkpoint.memory import MemorySaver  # SqliteSaver / PostgresSaver in production
    from langgraph.graph import END, START, StateGraph

    from handrail import Client
    from handrail.integrations.langgraph import gate, resume

    client = Client()
    graph = StateGraph(State)  # a TypedDict with "refund", "handrail" and "done"
    graph.add_node("approve", gate(client, action="refund", args="refund"))  # opens the request, pauses
    graph.add_node("do_refund", lambda s: {"done": f"refunded {s['handrail']['args']['amount']}"})
    graph.add_edge(START, "approve")
    graph.add_conditional_edges("approve", lambda s: END if s["handrail"]["type"] == "reject" else "do_refund")
    graph.add_edge("do_refund", END)
    app = graph.compile(checkpointer=MemorySaver())
    paused = app.invoke({"refund": {"order": "o_1", "amount": 500}}, {"configurable": {"thread_id": "lg-1"}})
    decision = client.wait(paused["__interrupt__"][0].value["handrail_request_id"])  # a person decides
    result = resume(app, "lg-1", decision)  # the gate re-runs, finds its request: "refunded 50"
    # README END
    assert result["done"] == "refunded 50"
    assert result["handrail"]["type"] == "edit"


def test_langgraph_a_forged_resume_does_not_approve(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    executed: List[Dict[str, Any]] = []
    app = build(client, executed, MemorySaver())
    config = {"configurable": {"thread_id": f"t-{uuid.uuid4().hex[:8]}"}}
    out = app.invoke({"refund": {"order": "o_3", "amount": 1}}, config)
    clean.resolve(out["__interrupt__"][0].value["handrail_request_id"], decision="reject", reason="no")
    with pytest.raises(HandrailError, match="resume value says 'approve'"):
        app.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    # LangGraph keeps the refused resume value; the gate reads the newest, so the thread
    # is not stuck on the forged one.
    out = app.invoke(Command(resume={"decisions": [{"type": "reject", "message": "no"}]}), config)
    assert out["handrail"]["type"] == "reject" and out["handrail"]["message"] == "no"
    assert executed == []
    assert executed == []


def test_langgraph_resume_from_webhook(clean: Server) -> None:
    """The decision arrives by webhook; the thread parked with the request is resumed."""
    deliveries = _Deliveries()
    hook = clean.operator("POST", "/v1/webhooks", {"url": deliveries.url})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    key = "hrk1.team." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    client = Client(clean.url, clean.agent_key, encryption_key=key)
    executed: List[Dict[str, Any]] = []
    app = build(client, executed, MemorySaver())
    thread = f"t-{uuid.uuid4().hex[:8]}"
    out = app.invoke({"refund": {"order": "o_4", "amount": 70}}, {"configurable": {"thread_id": thread}})
    request_id = out["__interrupt__"][0].value["handrail_request_id"]

    # request.created carries no decision: nothing to resume.
    created_body, created_headers = deliveries.wait("request.created", request_id)
    assert resume_from_webhook(app, client, created_body, created_headers, secret) is None
    assert executed == []

    # An encrypting client refuses a plain edit (the dashboard seals one): approve as is.
    clean.resolve(request_id, decision="approve")
    body, headers = deliveries.wait("request.resolved", request_id)
    with pytest.raises(WebhookError):
        resume_from_webhook(app, client, body.replace(b"APPROVED", b"REJECTED"), headers, secret)
    assert executed == []

    out = resume_from_webhook(app, client, body, headers, secret)
    assert out["done"] == "refunded 70" and executed == [{"order": "o_4", "amount": 70}]
    assert out["handrail"]["type"] == "approve" and out["handrail"]["request_id"] == request_id
    # A repeated delivery re-runs nothing the checkpointer recorded.
    resume_from_webhook(app, client, body, headers, secret)
    assert executed == [{"order": "o_4", "amount": 70}]


def test_langgraph_resume_from_webhook_without_parked_state_uses_thread_of(clean: Server) -> None:
    deliveries = _Deliveries()
    hook = clean.operator("POST", "/v1/webhooks", {"url": deliveries.url})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    client = Client(clean.url, clean.agent_key)  # no key: no state parked with the request
    executed: List[Dict[str, Any]] = []
    app = build(client, executed, MemorySaver())
    thread = f"t-{uuid.uuid4().hex[:8]}"
    out = app.invoke({"refund": {"order": "o_5", "amount": 3}}, {"configurable": {"thread_id": thread}})
    request_id = out["__interrupt__"][0].value["handrail_request_id"]
    clean.resolve(request_id, decision="approve", payload={"order": "o_5", "amount": 2})
    body, headers = deliveries.wait("request.resolved", request_id)
    assert resume_from_webhook(app, client, body, headers, secret) is None
    assert executed == []
    out = resume_from_webhook(app, client, body, headers, secret, thread_of={request_id: thread}.get)
    assert out["done"] == "refunded 2" and executed == [{"order": "o_5", "amount": 2}]
    assert out["handrail"]["type"] == "edit"


crewai = pytest.importorskip("crewai")
from crewai.tools import BaseTool  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from handrail.integrations.crewai import HumanApprovalTool, guard_tool  # noqa: E402


class _TransferArgs(BaseModel):
    account: str
    amount: int


class TransferTool(BaseTool):
    name: str = "transfer"
    description: str = "Transfer money to an account."
    args_schema: Type[BaseModel] = _TransferArgs
    calls: List[Dict[str, Any]] = []

    def _run(self, account: str, amount: int) -> str:
        self.calls.append({"account": account, "amount": amount})
        return f"sent {amount} to {account}"


def test_crewai_human_approval_tool(clean: Server) -> None:
    approval = HumanApprovalTool(client=Client(clean.url, clean.agent_key))
    with run(f"crew-{uuid.uuid4().hex[:8]}"):
        clean.resolve_when_pending(decision="reject", reason="ask finance first")
        assert approval.run(action="pay_invoice", payload={"invoice": "INV-9"}) == "REJECTED: ask finance first"


def test_crewai_guarded_tool_runs_with_the_approved_args(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    inner = TransferTool()
    guarded = guard_tool(
        inner, client=client, firewall=Firewall({"always_review": ["transfer"]}, mode="enforce"), effect="payment"
    )
    assert guarded.name == "transfer"
    with run(f"crew-{uuid.uuid4().hex[:8]}"):
        clean.resolve_when_pending(decision="approve", payload={"account": "acct_1", "amount": 20})
        assert guarded.run(account="acct_1", amount=200) == "sent 20 to acct_1"
        assert guarded.run(account="acct_1", amount=200) == "sent 20 to acct_1"  # a retry
        clean.resolve_when_pending(decision="reject", reason="no")
        assert guarded.run(account="acct_2", amount=5) == "REJECTED: no"
    assert inner.calls == [{"account": "acct_1", "amount": 20}]


def test_readme_crewai_example(clean: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    clean.resolve_when_pending(decision="approve", payload={"account": "acct_1", "amount": 20})
    inner = TransferTool()
    # README START
    from handrail import Client, Firewall
    from handrail.guard import run
    from handrail.integrations.crewai import HumanApprovalTool, guard_tool

    client = Client()
    firewall = Firewall({"always_review": ["transfer"]}, mode="enforce")
    transfer = guard_tool(inner, client=client, firewall=firewall, effect="payment")  # inner: your BaseTool
    ask_human = HumanApprovalTool(client=client)  # a person as a tool the agent may call
    # Agent(role="payments", goal=..., backstory=..., tools=[transfer, ask_human]) in a Crew, or directly:
    with run("crew-1", context="pay acct_1 200"):
        print(transfer.run(account="acct_1", amount=200))  # a person approved 20: "sent 20 to acct_1"
    # README END
    assert capsys.readouterr().out == "sent 20 to acct_1\n"
    assert ask_human.name and inner.calls[-1] == {"account": "acct_1", "amount": 20}

"""LangChain v1 ``create_agent`` with :class:`handrail.integrations.langchain.HandrailMiddleware`:
the real ``langchain`` package, a scripted fake chat model (LangChain's own
``GenericFakeChatModel``), against a real ``handrail serve``."""

from __future__ import annotations

import base64
import os
import sqlite3
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pytest

from handrail import Client, ExpiredError, Firewall, HandrailError, WebhookError

from conftest import Deliveries, Server

pytest.importorskip("langchain.agents")
from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.types import Command  # noqa: E402

from handrail.integrations.langchain import (  # noqa: E402
    HandrailMiddleware,
    Pending,
    ResumeMismatch,
    hitl_response,
    resume,
    resume_from_webhook,
)


class ScriptedModel(GenericFakeChatModel):
    """LangChain's fake chat model, scripted with tool calls; tools need no binding."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self


def script(*steps: List[Dict[str, Any]]) -> ScriptedModel:
    """One AI message per step (its tool calls), then a final answer."""
    messages: List[AIMessage] = [
        AIMessage(content="", tool_calls=[{"name": c["name"], "args": c["args"], "id": c["id"], "type": "tool_call"} for c in step])
        for step in steps
    ]
    messages.append(AIMessage(content="done"))
    return ScriptedModel(messages=iter(messages))


class Tools:
    def __init__(self) -> None:
        self.ran: List[Dict[str, Any]] = []
        ran = self.ran

        @tool
        def refund(order: str, amount: int) -> str:
            """Refund an order."""
            ran.append({"order": order, "amount": amount})
            return f"refunded {amount} on {order}"

        @tool
        def drop_table(name: str) -> str:
            """Drop a table."""
            ran.append({"drop": name})
            return "dropped"

        @tool
        def pay(to: str, amount: int) -> str:
            """Pay someone by e-mail address."""
            ran.append({"to": to, "amount": amount})
            return f"paid {amount} to {to}"

        @tool
        def ask_user(question: str) -> str:
            """Ask the user a question (a person answers in its place)."""
            ran.append({"question": question})
            return "no answer"

        self.refund = refund
        self.drop_table = drop_table
        self.all = [refund, drop_table, pay, ask_user]


def call(order: str, amount: int, id_: Optional[str] = None) -> Dict[str, Any]:
    return {"name": "refund", "args": {"order": order, "amount": amount}, "id": id_ or f"call_{order}"}


def agent_for(client: Client, tools: Tools, model: ScriptedModel, saver: Any, **options: Any) -> Any:
    options.setdefault("interrupt_on", {"refund": True})
    mw = HandrailMiddleware(client, tools=tools.all, service="billing-lc", **options)
    return create_agent(model, tools=tools.all, middleware=[mw], checkpointer=saver)


def config() -> Dict[str, Any]:
    return {"configurable": {"thread_id": f"lc-{uuid.uuid4().hex[:8]}"}}


def requests_of(server: Server, ids: List[str]) -> List[Dict[str, Any]]:
    rows = server.operator("GET", "/v1/requests?limit=500").json()["requests"]
    return [r for r in rows if r["id"] in ids]


def billing_count(server: Server) -> int:
    rows = server.operator("GET", "/v1/requests?limit=500").json()["requests"]
    return len([r for r in rows if r["service"] == "billing-lc"])


def tool_messages(out: Dict[str, Any]) -> Dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}


def test_held_call_approved_runs_once_and_one_request(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_1", 500)]), InMemorySaver())
    cfg = config()
    before = billing_count(clean)
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_1"}]}, cfg)
    (intr,) = out["__interrupt__"]
    assert intr.value["action_requests"][0]["name"] == "refund"
    assert intr.value["action_requests"][0]["args"] == {"order": "o_1", "amount": 500}
    assert intr.value["review_configs"] == [{"action_name": "refund", "allowed_decisions": ["approve", "edit", "reject"]}]
    (rid,) = intr.value["handrail_request_ids"]
    assert intr.value["handrail_tool_call_ids"] == ["call_o_1"]
    assert tools.ran == []
    # The request carries the tool's argument schema and the task.
    (row,) = requests_of(clean, [rid])
    assert row["action"] == "refund" and row["service"] == "billing-lc"

    clean.resolve(rid, decision="approve")
    out = resume(agent, client, cfg)
    assert tools.ran == [{"order": "o_1", "amount": 500}]
    assert tool_messages(out)["call_o_1"].content == "refunded 500 on o_1"
    assert out["messages"][-1].content == "done"
    # The gate re-ran on resume and opened no second request; a repeated resume runs nothing.
    assert billing_count(clean) == before + 1
    assert resume(agent, client, cfg) is None
    assert tools.ran == [{"order": "o_1", "amount": 500}]


def test_edit_runs_the_edited_args_and_tells_the_model(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_2", 500)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_2"}]}, cfg)
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    # The server checks an edit against the request's schema (the tool's arguments).
    bad = clean.operator("POST", f"/v1/requests/{rid}/resolve", {"decision": "approve", "payload": {"order": "o_2", "amount": "all"}})
    assert bad.status_code == 422, bad.text
    clean.resolve(rid, decision="approve", payload={"order": "o_2", "amount": 50})
    out = resume(agent, client, cfg)
    assert tools.ran == [{"order": "o_2", "amount": 50}]
    text = tool_messages(out)["call_o_2"].content
    assert text.startswith("APPROVED WITH EDITS: amount: 500 → 50; use these values:")
    assert text.endswith("refunded 50 on o_2")


def test_an_edit_is_checked_by_the_firewall_again(clean: Server) -> None:
    """A person rejected paying mallory; the firewall learned it. A later call's edit to
    that address is blocked when the middleware re-checks it: the tool does not run."""
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    fw = Firewall(mode="enforce")
    pay = lambda to, amount, id_: {"name": "pay", "args": {"to": to, "amount": amount}, "id": id_}  # noqa: E731
    agent = agent_for(
        client,
        tools,
        script([pay("mallory@evil.example", 5, "call_m")], [pay("alice@example.com", 5, "call_a")]),
        InMemorySaver(),
        interrupt_on={"pay": True},
        firewall=fw,
    )
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "pay alice@example.com 5"}]}, cfg)
    (first,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(first, decision="reject", reason="not mallory")
    out = resume(agent, client, cfg)  # the model goes on with a second call, held too
    (second,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(second, decision="approve", payload={"to": "mallory@evil.example", "amount": 5})
    out = resume(agent, client, cfg)
    msg = tool_messages(out)["call_a"]
    assert msg.status == "error" and "was rejected by a person before" in msg.content
    assert tools.ran == []


def test_reject_gives_the_reason_and_a_forged_resume_raises(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_3", 9000)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_3"}]}, cfg)
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(rid, decision="reject", reason="over the limit")
    with pytest.raises(ResumeMismatch, match="resume value says 'approve'") as info:
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert info.value.code == "resume_mismatch" and isinstance(info.value, HandrailError)
    with pytest.raises(HandrailError, match="1 held calls"):
        agent.invoke(Command(resume={"decisions": [{"type": "reject"}, {"type": "approve"}]}), cfg)
    assert tools.ran == []
    # The caller's own resume value, when it agrees, is accepted.
    out = agent.invoke(Command(resume={"decisions": [{"type": "reject", "message": "whatever"}]}), cfg)
    msg = tool_messages(out)["call_o_3"]
    assert (msg.content, msg.status) == ("REJECTED: over the limit", "error")
    assert tools.ran == []


def test_pending_raises_and_the_thread_stays_resumable(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_4", 5)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_4"}]}, cfg)
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    with pytest.raises(Pending) as info:
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert info.value.code == "pending" and info.value.request_ids == [rid]
    assert tools.ran == []
    clean.resolve(rid, decision="approve")
    out = resume(agent, client, cfg)
    assert tools.ran == [{"order": "o_4", "amount": 5}]


def test_expired_fails_closed(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_5", 5)]), InMemorySaver(), expires_in=1)
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_5"}]}, cfg)
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    with pytest.raises(ExpiredError):
        client.wait(rid)  # until the deadline passes
    with pytest.raises(HandrailError, match="decided EXPIRED"):
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert hitl_response(client, out["__interrupt__"][0].value) == {
        "decisions": [{"type": "reject", "message": "EXPIRED: do not act"}]
    }
    out = resume(agent, client, cfg)
    assert tool_messages(out)["call_o_5"].content == "EXPIRED: do not act"
    assert tools.ran == []


def test_firewall_is_the_default_predicate_and_a_restart_resumes(clean: Server, tmp_path: Any) -> None:
    """No interrupt_on: the firewall holds refund and blocks drop_table. The worker
    restarts (SqliteSaver, a new client, a fresh firewall whose policy would let refund
    run): the held call still waits for its decision, and the rejection stands."""
    db = str(tmp_path / "agent.db")
    cfg = config()
    steps = [[call("o_6", 70), {"name": "drop_table", "args": {"name": "orders"}, "id": "call_drop"}]]
    tools = Tools()
    fw = Firewall({"always_review": ["refund"], "deny": ["drop_table"]}, mode="enforce")
    conn = sqlite3.connect(db, check_same_thread=False)
    out = agent_for(
        Client(clean.url, clean.agent_key), tools, script(*steps), SqliteSaver(conn), interrupt_on={}, firewall=fw
    ).invoke({"messages": [{"role": "user", "content": "refund order o_6"}]}, cfg)
    conn.close()
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(rid, decision="reject", reason="not this one")

    conn = sqlite3.connect(db, check_same_thread=False)
    try:
        client = Client(clean.url, clean.agent_key)
        # A fresh firewall whose policy now allows refund; the script goes on after step 1.
        fresh = Firewall({"allow": ["refund"], "deny": ["drop_table"]}, mode="enforce")
        agent = agent_for(client, tools, script(), SqliteSaver(conn), interrupt_on={}, firewall=fresh)
        out = resume(agent, client, cfg)
    finally:
        conn.close()
    msgs = tool_messages(out)
    assert msgs["call_o_6"].content == "REJECTED: not this one"
    assert "blocked by the firewall" in msgs["call_drop"].content and msgs["call_drop"].status == "error"
    assert tools.ran == []
    assert len(requests_of(clean, [rid])) == 1


@pytest.mark.parametrize(
    "orders, order_of_decisions, rejected",
    [
        (["p_a", "p_b"], [1, 0], "p_a"),
        (["p_c", "p_d", "p_e"], [2, 0, 1], "p_d"),
        (["p_f", "p_g", "p_h"], [0, 2, 1], "p_h"),
    ],
)
def test_parallel_calls_decided_in_any_order(
    clean: Server, orders: List[str], order_of_decisions: List[int], rejected: str
) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call(o, i + 1) for i, o in enumerate(orders)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund " + " ".join(orders)}]}, cfg)
    (intr,) = out["__interrupt__"]  # one batched interrupt
    ids = intr.value["handrail_request_ids"]
    assert [a["args"]["order"] for a in intr.value["action_requests"]] == orders
    assert len(set(ids)) == len(orders)  # each call its own request
    for n, i in enumerate(order_of_decisions):
        if orders[i] == rejected:
            clean.resolve(ids[i], decision="reject", reason=f"not {rejected}")
        else:
            clean.resolve(ids[i], decision="approve")
        if n < len(orders) - 1:
            with pytest.raises(Pending):
                agent.invoke(Command(resume={"decisions": [{"type": "approve"}] * len(orders)}), cfg)
            assert tools.ran == []
    out = resume(agent, client, cfg)
    assert sorted(r["order"] for r in tools.ran) == sorted(o for o in orders if o != rejected)
    assert tool_messages(out)[f"call_{rejected}"].content == f"REJECTED: not {rejected}"
    assert resume(agent, client, cfg) is None
    assert len(tools.ran) == len(orders) - 1


def test_readme_langchain_example(clean: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    model = script([call("o_1", 500)])
    refund = Tools().refund
    clean.resolve_when_pending(decision="approve")
    # README START
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver  # SqliteSaver / PostgresSaver in production

    from handrail import Client
    from handrail.integrations.langchain import HandrailMiddleware, resume

    client = Client()
    agent = create_agent(model, tools=[refund], checkpointer=InMemorySaver(),
                         middleware=[HandrailMiddleware(client, interrupt_on={"refund": True}, tools=[refund])])
    config = {"configurable": {"thread_id": "thread-1"}}
    paused = agent.invoke({"messages": [{"role": "user", "content": "refund order o_1"}]}, config)
    # ... a person decides request paused["__interrupt__"][0].value["handrail_request_ids"][0] ...
    result = resume(agent, client, config)  # waits for the decision, then runs the tool (or not)
    # README END
    assert paused["__interrupt__"]
    assert result["messages"][-1].content == "done"


def test_resume_from_webhook_on_the_last_decision(clean: Server) -> None:
    """Two held calls; an encrypting client parks the thread id with each request. The
    first decision's delivery resumes nothing, the second's runs the thread on."""
    deliveries = Deliveries()
    hook = clean.operator("POST", "/v1/webhooks", {"url": deliveries.url})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    key = "hrk1.team." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    client = Client(clean.url, clean.agent_key, encryption_key=key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("w_1", 1), call("w_2", 2)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund w_1 and w_2"}]}, cfg)
    first, second = out["__interrupt__"][0].value["handrail_request_ids"]

    body, headers = deliveries.wait("request.created", first)
    assert resume_from_webhook(agent, client, body, headers, secret) is None
    clean.resolve(first, decision="approve")
    body, headers = deliveries.wait("request.resolved", first)
    assert resume_from_webhook(agent, client, body, headers, secret) is None  # w_2 pending
    assert tools.ran == []
    clean.resolve(second, decision="reject", reason="not w_2")
    body, headers = deliveries.wait("request.resolved", second)
    with pytest.raises(WebhookError):
        resume_from_webhook(agent, client, body.replace(b"REJECTED", b"APPROVED"), headers, secret)
    out = resume_from_webhook(agent, client, body, headers, secret)
    assert tools.ran == [{"order": "w_1", "amount": 1}]
    assert tool_messages(out)["call_w_2"].content == "REJECTED: not w_2"
    # A repeated delivery: the thread went on, nothing runs twice.
    assert resume_from_webhook(agent, client, body, headers, secret) is None
    assert tools.ran == [{"order": "w_1", "amount": 1}]


def test_async_agent(clean: Server) -> None:
    """``ainvoke`` goes through the same hook (its HTTP calls are synchronous)."""
    import asyncio

    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("as_1", 8)]), InMemorySaver())
    cfg = config()
    out = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": "refund as_1"}]}, cfg))
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(rid, decision="approve", payload={"order": "as_1", "amount": 4})
    value = out["__interrupt__"][0].value
    out = asyncio.run(agent.ainvoke(Command(resume=hitl_response(client, value)), cfg))
    assert tools.ran == [{"order": "as_1", "amount": 4}]
    assert tool_messages(out)["call_as_1"].content.startswith("APPROVED WITH EDITS: amount: 8 → 4")


def test_a_thread_grant_approves_the_same_tool_later_in_that_thread_only(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("o_g1", 5)], [call("o_g2", 6)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund o_g1 and o_g2"}]}, cfg)
    (first,) = out["__interrupt__"][0].value["handrail_request_ids"]
    (row,) = requests_of(clean, [first])
    assert row["context"]["thread"] == cfg["configurable"]["thread_id"]
    clean.resolve(first, decision="approve", grant={"for_secs": 600, "thread": True})
    out = resume(agent, client, cfg)
    # The second refund of the thread is held as before, and approved at once under the grant:
    # the resume runs it without anyone deciding.
    (second,) = out["__interrupt__"][0].value["handrail_request_ids"]
    (row,) = requests_of(clean, [second])
    assert row["status"] == "APPROVED" and row["decision"]["grant"], row
    out = resume(agent, client, cfg)
    assert tools.ran == [{"order": "o_g1", "amount": 5}, {"order": "o_g2", "amount": 6}]
    # Another thread is not covered.
    other = agent_for(client, tools, script([call("o_g3", 7)]), InMemorySaver())
    out = other.invoke({"messages": [{"role": "user", "content": "refund o_g3"}]}, config())
    (third,) = out["__interrupt__"][0].value["handrail_request_ids"]
    assert requests_of(clean, [third])[0]["status"] == "PENDING"


def ask(question: str, id_: str) -> Dict[str, Any]:
    return {"name": "ask_user", "args": {"question": question}, "id": id_}


def test_respond_answers_the_model_with_the_reply_and_runs_nothing(clean: Server) -> None:
    """LangChain's ``respond``: a person answers in place of the tool. On the server it is a
    rejection whose reason is the reply; the model gets the reply as the tool's result."""
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    only_respond = {"ask_user": {"allowed_decisions": ["approve", "respond"]}}
    agent = agent_for(client, tools, script([ask("Which day?", "call_ask")]), InMemorySaver(), interrupt_on=only_respond)
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "book a meeting"}]}, cfg)
    value = out["__interrupt__"][0].value
    assert value["review_configs"] == [{"action_name": "ask_user", "allowed_decisions": ["approve", "respond"]}]
    (rid,) = value["handrail_request_ids"]
    clean.resolve(rid, decision="reject", reason="Tuesday at 10")
    assert hitl_response(client, value) == {"decisions": [{"type": "respond", "message": "Tuesday at 10"}]}
    # The server wins: another reply, or a decision type the tool does not allow, is refused.
    with pytest.raises(ResumeMismatch, match="responds ask_user otherwise"):
        agent.invoke(Command(resume={"decisions": [{"type": "respond", "message": "Friday"}]}), cfg)
    with pytest.raises(ResumeMismatch, match="'edit' is not allowed for ask_user"):
        agent.invoke(Command(resume={"decisions": [{"type": "edit", "edited_action": {"name": "ask_user", "args": {}}}]}), cfg)
    out = resume(agent, client, cfg)
    msg = tool_messages(out)["call_ask"]
    assert (msg.content, msg.status) == ("Tuesday at 10", "success")
    assert tools.ran == []
    assert resume(agent, client, cfg) is None


def test_respond_or_reject_where_both_are_allowed_the_resume_value_picks(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    both = {"ask_user": {"allowed_decisions": ["approve", "reject", "respond"]}}
    agent = agent_for(
        client, tools, script([ask("Which day?", "call_b1"), ask("Which room?", "call_b2")]), InMemorySaver(), interrupt_on=both
    )
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "book a meeting"}]}, cfg)
    first, second = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(first, decision="reject", reason="Monday")
    clean.resolve(second, decision="reject", reason="not that")
    answer = {"decisions": [{"type": "respond", "message": "Monday"}, {"type": "reject"}]}
    out = agent.invoke(Command(resume=answer), cfg)
    msgs = tool_messages(out)
    assert (msgs["call_b1"].content, msgs["call_b1"].status) == ("Monday", "success")
    assert (msgs["call_b2"].content, msgs["call_b2"].status) == ("REJECTED: not that", "error")
    assert tools.ran == []


def test_a_decision_type_the_call_does_not_allow_fails_closed(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    no_edit = {"refund": {"allowed_decisions": ["approve", "reject"]}}
    agent = agent_for(client, tools, script([call("o_ne", 500)]), InMemorySaver(), interrupt_on=no_edit)
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund order o_ne"}]}, cfg)
    (rid,) = out["__interrupt__"][0].value["handrail_request_ids"]
    clean.resolve(rid, decision="approve", payload={"order": "o_ne", "amount": 5})
    with pytest.raises(ResumeMismatch, match="'edit' is not allowed for refund"):
        agent.invoke(Command(resume={"decisions": [{"type": "edit", "edited_action": {"name": "refund", "args": {"order": "o_ne", "amount": 5}}}]}), cfg)
    with pytest.raises(ResumeMismatch, match="'respond' is not allowed for refund"):
        agent.invoke(Command(resume={"decisions": [{"type": "respond", "message": "x"}]}), cfg)
    assert tools.ran == []
    out = resume(agent, client, cfg)
    msg = tool_messages(out)["call_o_ne"]
    assert (msg.content, msg.status) == ("REJECTED: edit is not allowed for refund", "error")
    assert tools.ran == []
    # An unknown decision type is refused when the middleware is built.
    with pytest.raises(ValueError, match="unknown decision type"):
        HandrailMiddleware(client, interrupt_on={"refund": {"allowed_decisions": ["approve", "maybe"]}})  # type: ignore[list-item]


def test_a_resume_after_refused_resumes_reads_the_newest_value_and_resumes_twice(clean: Server) -> None:
    """LangGraph keeps the refused resume values of a step; the middleware reads the newest,
    so a thread never stays stuck on an old one. Two held steps, each resumed once approved."""
    client = Client(clean.url, clean.agent_key)
    tools = Tools()
    agent = agent_for(client, tools, script([call("s_1", 1)], [call("s_2", 2)]), InMemorySaver())
    cfg = config()
    out = agent.invoke({"messages": [{"role": "user", "content": "refund s_1 and s_2"}]}, cfg)
    (first,) = out["__interrupt__"][0].value["handrail_request_ids"]
    with pytest.raises(Pending):
        agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    clean.resolve(first, decision="approve")
    with pytest.raises(ResumeMismatch):
        agent.invoke(Command(resume={"decisions": [{"type": "reject"}]}), cfg)
    with pytest.raises(ResumeMismatch):
        agent.invoke(Command(resume={"decisions": [{"type": "reject"}]}), cfg)
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), cfg)
    assert tools.ran == [{"order": "s_1", "amount": 1}]
    (second,) = out["__interrupt__"][0].value["handrail_request_ids"]
    assert second != first
    clean.resolve(second, decision="approve")
    out = resume(agent, client, cfg)
    assert tools.ran == [{"order": "s_1", "amount": 1}, {"order": "s_2", "amount": 2}]
    assert out["messages"][-1].content == "done"
    assert resume(agent, client, cfg) is None
    assert len(tools.ran) == 2

"""The OpenAI Agents SDK with :mod:`handrail.integrations.openai_agents`: the real
``openai-agents`` package, its own scripted test model (``agents.testing.ScriptedModel``),
against a real ``handrail serve``.

``openai-agents`` 0.24 needs ``openai>=3`` and ``crewai`` 1.x ``openai<3``, so
``scripts/test-py.sh`` runs this file in a venv of its own (``.venv-openai-agents``)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from typing import Any, Dict, List, Optional

import pytest

from handrail import Client, ExpiredError, Firewall, HandrailError, Keyring, WebhookError
from handrail.guard import flush

from conftest import Deliveries, Server

pytest.importorskip("agents")
from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.exceptions import UserError  # noqa: E402
from agents.testing import ScriptedModel, assistant_message, function_call  # noqa: E402

from handrail.integrations.openai_agents import AlreadyRan, guard_tool, park, resume, resume_from_webhook  # noqa: E402

set_tracing_disabled(True)


@pytest.fixture(autouse=True)
def posted() -> Any:
    """Each test's observations reach the server while it still runs."""
    yield
    assert flush(30)


def key() -> str:
    return "hrk1.team." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def sealed_edit(encryption_key: str, request_id: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    """An edit as the dashboard sends it for an encrypted request: sealed with the team key."""
    _, kid, secret = encryption_key.split(".")
    ring = Keyring([(kid, secret)])
    return json.loads(ring.seal(kid, request_id, "patched_payload", json.dumps(payload).encode()))


class World:
    """The tools, what ran, and an agent built on a scripted model (again after a restart)."""

    def __init__(self, server: Server, encryption_key: Optional[str] = None, **guard: Any) -> None:
        self.ran: List[Dict[str, Any]] = []
        self.key = encryption_key or key()
        self.client = Client(server.url, server.agent_key, encryption_key=self.key)
        self.guard = guard

    def agent(self, *steps: Any) -> Agent[Any]:
        ran = self.ran

        @function_tool
        def refund(order: str, amount: int) -> str:
            """Refund an order."""
            ran.append({"order": order, "amount": amount})
            return f"refunded {amount} on {order}"

        @function_tool
        def drop_table(name: str) -> str:
            """Drop a table."""
            ran.append({"drop": name})
            return "dropped"

        options = dict(self.guard)
        options.setdefault("always", True)
        tools = [guard_tool(refund, client=self.client, **options), guard_tool(drop_table, firewall=options.get("firewall"))]
        self.model = ScriptedModel([*steps, [assistant_message("done")]])
        return Agent(name="billing", model=self.model, tools=tools)


def refund_call(order: str, amount: int, call_id: str) -> Any:
    return function_call("refund", {"order": order, "amount": amount}, call_id=call_id)


def cid() -> str:
    return f"call_{uuid.uuid4().hex[:10]}"


def outputs(model: ScriptedModel) -> Dict[str, str]:
    """The tool outputs the model was given in its last call, by call id."""
    items = model.calls[-1].input
    return {i["call_id"]: i["output"] for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_approved_runs_once_and_a_second_resume_runs_nothing(clean: Server) -> None:
    w = World(clean, agent="billing-oa")
    c = cid()
    agent = w.agent([refund_call("o_1", 500, c)])
    result = run(Runner.run(agent, "refund order o_1"))
    assert [i.tool_name for i in result.interruptions] == ["refund"]
    run_id = f"job-{uuid.uuid4().hex[:8]}"
    (rid,) = park(w.client, result, run_id=run_id)
    assert park(w.client, result, run_id=run_id) == [rid]  # parking again: the same request
    assert run(resume(w.client, agent, rid)) is None  # still pending: nothing changes
    assert w.ran == []

    clean.resolve(rid, decision="approve")
    result = run(resume(w.client, agent, rid))
    assert result.final_output == "done"
    assert w.ran == [{"order": "o_1", "amount": 500}]
    assert outputs(w.model)[c] == "refunded 500 on o_1"
    # The same parked state resumed again (a repeated webhook, another worker): the
    # approved call was claimed, it does not run twice.
    again = w.agent()  # a fresh worker's agent
    with pytest.raises(UserError) as info:  # the SDK wraps a tool's exception and stops the run
        run(resume(w.client, again, rid))
    assert isinstance(info.value.__cause__, AlreadyRan)
    assert w.ran == [{"order": "o_1", "amount": 500}]


def test_reject_gives_the_reason_after_a_restart(clean: Server) -> None:
    """The worker restarts between the interrupt and the decision: a new client (the same
    key), a new agent; the RunState comes back from the parked snapshot."""
    w = World(clean, agent="billing-oa")
    c = cid()
    result = run(Runner.run(w.agent([refund_call("o_2", 9000, c)]), "refund order o_2"))
    (rid,) = park(w.client, result, run_id=f"job-{uuid.uuid4().hex[:8]}")
    clean.resolve(rid, decision="reject", reason="over the limit")

    restarted = World(clean, encryption_key=w.key, agent="billing-oa")  # a new process: the team key, nothing else
    agent = restarted.agent()
    result = run(resume(restarted.client, agent, rid))
    assert result.final_output == "done"
    assert restarted.ran == [] and w.ran == []
    assert outputs(restarted.model)[c] == "REJECTED: over the limit"


def test_edit_is_a_rejection_carrying_the_values_then_the_new_call_runs(clean: Server) -> None:
    w = World(clean, agent="billing-oa")
    first, second = cid(), cid()
    agent = w.agent([refund_call("o_3", 500, first)], [refund_call("o_3", 50, second)])
    run_id = f"job-{uuid.uuid4().hex[:8]}"
    (rid,) = park(w.client, run(Runner.run(agent, "refund order o_3")), run_id=run_id)
    # The parked run needs an encrypting client, so the edit arrives sealed (as the
    # dashboard seals it); the new call it leads to is checked again like any other.
    clean.resolve(rid, decision="approve", payload=sealed_edit(w.key, rid, {"order": "o_3", "amount": 50}))
    result = run(resume(w.client, agent, rid))
    # The model was told the approved values; its new call is held again (a new request).
    told = outputs(w.model)[first]
    assert told.startswith("APPROVED WITH EDITS: amount: 500 → 50; use these values:")
    assert w.ran == []
    (interruption,) = result.interruptions
    assert interruption.tool_name == "refund"
    rows = clean.operator("GET", "/v1/requests?status=PENDING").json()["requests"]
    (second_rid,) = [r["id"] for r in rows if r["service"] == "openai-agents" and r["id"] != rid]
    clean.resolve(second_rid, decision="approve")
    result = run(resume(w.client, agent, second_rid))
    assert result.final_output == "done"
    assert w.ran == [{"order": "o_3", "amount": 50}]


def test_expired_fails_closed(clean: Server) -> None:
    w = World(clean, agent="billing-oa")
    c = cid()
    agent = w.agent([refund_call("o_4", 5, c)])
    (rid,) = park(w.client, run(Runner.run(agent, "refund order o_4")), run_id=f"job-{uuid.uuid4().hex[:8]}", expires_in=1)
    with pytest.raises(ExpiredError):
        w.client.wait(rid)  # until the deadline passes
    result = run(resume(w.client, agent, rid))
    assert result.final_output == "done" and w.ran == []
    assert outputs(w.model)[c] == "EXPIRED: do not act"


def test_firewall_backs_needs_approval_and_blocks(clean: Server) -> None:
    fw = Firewall({"always_review": ["refund"], "deny": ["drop_table"]}, mode="enforce")
    w = World(clean, firewall=fw, always=False, agent="billing-oa")
    c, d = cid(), cid()
    agent = w.agent([refund_call("o_5", 7, c), function_call("drop_table", {"name": "orders"}, call_id=d)])
    result = run(Runner.run(agent, "refund order o_5"))
    # refund is held; drop_table needs no approval but the firewall blocks it when it runs.
    assert [i.tool_name for i in result.interruptions] == ["refund"]
    run_id = f"job-{uuid.uuid4().hex[:8]}"
    (rid,) = park(w.client, result, run_id=run_id)
    # The request carries the firewall's review context beside the run and call.
    (row,) = [r for r in clean.operator("GET", "/v1/requests?status=PENDING").json()["requests"] if r["id"] == rid]
    detail = clean.operator("GET", f"/v1/requests/{rid}").json()
    context = detail.get("context") or row.get("context")
    assert context["openai_agents"] == {"run_id": run_id, "call_id": c}
    assert context["thread"] == run_id
    assert context["firewall"]["action"] == "review"
    clean.resolve(rid, decision="approve")
    result = run(resume(w.client, agent, rid))
    assert w.ran == [{"order": "o_5", "amount": 7}]
    assert "blocked by the firewall" in outputs(w.model)[d]


def test_park_needs_an_encryption_key(clean: Server) -> None:
    w = World(clean)
    agent = w.agent([refund_call("o_6", 1, cid())])
    result = run(Runner.run(agent, "refund order o_6"))
    with pytest.raises(HandrailError, match="encryption key"):
        park(Client(clean.url, clean.agent_key), result, run_id="job-plain")


@pytest.mark.parametrize(
    "amounts, order_of_decisions, rejected",
    [([1, 2], [1, 0], 0), ([1, 2, 3], [2, 0, 1], 1), ([4, 5, 6], [0, 2, 1], 2)],
)
def test_parallel_calls_decided_in_any_order(
    clean: Server, amounts: List[int], order_of_decisions: List[int], rejected: int
) -> None:
    w = World(clean, agent="billing-oa")
    calls = [cid() for _ in amounts]
    order = f"par_{uuid.uuid4().hex[:6]}"
    agent = w.agent([refund_call(order, a, c) for a, c in zip(amounts, calls)])
    result = run(Runner.run(agent, "refund them"))
    assert len(result.interruptions) == len(amounts)
    ids = park(w.client, result, run_id=f"job-{uuid.uuid4().hex[:8]}")
    assert len(set(ids)) == len(amounts)
    for n, i in enumerate(order_of_decisions):
        if i == rejected:
            clean.resolve(ids[i], decision="reject", reason="not this one")
        else:
            clean.resolve(ids[i], decision="approve")
        if n < len(amounts) - 1:
            # A webhook for this decision: the others are pending, nothing runs yet.
            assert run(resume(w.client, agent, ids[i])) is None
            assert w.ran == []
    result = run(resume(w.client, agent, ids[order_of_decisions[-1]]))
    assert result.final_output == "done"
    assert sorted(r["amount"] for r in w.ran) == sorted(a for j, a in enumerate(amounts) if j != rejected)
    assert outputs(w.model)[calls[rejected]] == "REJECTED: not this one"


def test_readme_openai_agents_example(clean: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    monkeypatch.setenv("HANDRAIL_ENCRYPTION_KEY", key())
    w = World(clean)
    model = ScriptedModel([[refund_call("o_9", 500, cid())], [assistant_message("done")]])
    refund_tool = w.agent().tools[0]

    async def main() -> Any:
        # README START
        from agents import Agent, Runner

        from handrail import Client
        from handrail.integrations.openai_agents import guard_tool, park, resume

        client = Client()  # needs HANDRAIL_ENCRYPTION_KEY: the parked RunState is sealed
        agent = Agent(name="billing", model=model, tools=[guard_tool(refund_tool, always=True)])
        result = await Runner.run(agent, "refund order o_9")
        (request_id,) = park(client, result, run_id="job-9")  # one request per held call
        # ... a person decides; then, from a webhook or a poll, in any worker:
        result = await resume(client, agent, request_id, wait=True)  # wait=False: None while pending
        # README END
        return result

    clean.resolve_when_pending(decision="approve")
    result = run(main())
    assert result.final_output == "done"
    assert w.ran == [{"order": "o_9", "amount": 500}]


def test_resume_from_webhook(clean: Server) -> None:
    """Decisions arrive by webhook; the run resumes on the delivery that completes it."""
    deliveries = Deliveries()
    hook = clean.operator("POST", "/v1/webhooks", {"url": deliveries.url})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]
    w = World(clean, agent="billing-oa")
    agent = w.agent([refund_call("o_7", 3, cid()), refund_call("o_8", 4, cid())])
    first, second = park(w.client, run(Runner.run(agent, "refund o_7 and o_8")), run_id=f"job-{uuid.uuid4().hex[:8]}")

    body, headers = deliveries.wait("request.created", first)
    assert run(resume_from_webhook(w.client, agent, body, headers, secret)) is None
    clean.resolve(first, decision="approve")
    body, headers = deliveries.wait("request.resolved", first)
    assert run(resume_from_webhook(w.client, agent, body, headers, secret)) is None  # o_8 pending
    assert w.ran == []
    clean.resolve(second, decision="approve")
    body, headers = deliveries.wait("request.resolved", second)
    with pytest.raises(WebhookError):
        run(resume_from_webhook(w.client, agent, body.replace(b"APPROVED", b"REJECTED"), headers, secret))
    result = run(resume_from_webhook(w.client, agent, body, headers, secret))
    assert result.final_output == "done"
    assert sorted(r["order"] for r in w.ran) == ["o_7", "o_8"]

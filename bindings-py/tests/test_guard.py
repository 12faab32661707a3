"""``guard`` and ``tool`` against a real ``handrail serve`` (see conftest.py): the firewall
in-process, people deciding through the operator API, observations posted in the
background and read back from ``GET /v1/agents/{agent}``."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Dict, List

import pytest

import handrail
from handrail import Client, Firewall, HandrailError
from handrail.guard import _OBSERVERS, Blocked, Rejected, flush, guard, run, tool

from conftest import Server


def client_for(server: Server) -> Client:
    return Client(server.url, server.agent_key)


def pending(server: Server) -> List[Dict[str, Any]]:
    return server.operator("GET", "/v1/requests?status=PENDING").json()["requests"]  # type: ignore[no-any-return]


def requests_for(server: Server, action: str) -> List[Dict[str, Any]]:
    rows = server.operator("GET", "/v1/requests?limit=200").json()["requests"]
    return [r for r in rows if r["action"] == action]


def scope() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def test_allow_runs_the_tool_and_observations_arrive(clean: Server) -> None:
    client = client_for(clean)
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    calls: List[str] = []

    @guard(effect="read", client=client, firewall=Firewall(mode="enforce"), agent=agent)
    def lookup_invoice(invoice: str) -> Dict[str, str]:
        calls.append(invoice)
        return {"invoice": invoice, "status": "paid"}

    with run(scope(), context="check invoices INV-1 and INV-2"):
        assert lookup_invoice("INV-1") == {"invoice": "INV-1", "status": "paid"}
        assert lookup_invoice(invoice="INV-2")["invoice"] == "INV-2"
    assert calls == ["INV-1", "INV-2"]
    assert flush(30)
    detail = clean.operator("GET", f"/v1/agents/{agent}").json()
    assert detail["telemetry"]["tools"]["lookup_invoice"]["calls"] == 2
    assert detail["telemetry"]["tools"]["lookup_invoice"]["outcomes"] == {"ran": 2}


def test_review_approved_with_an_edit_runs_with_the_edited_args(clean: Server) -> None:
    client = client_for(clean)
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    fw = Firewall({"always_review": ["refund"]}, mode="enforce")
    ran: List[Dict[str, Any]] = []
    schema = {
        "type": "object",
        "properties": {"order": {"type": "string"}, "amount": {"type": "integer", "maximum": 1000}},
        "required": ["order", "amount"],
    }

    @guard(effect="payment", schema=schema, client=client, firewall=fw, agent=agent)
    def refund(order: str, amount: int) -> str:
        ran.append({"order": order, "amount": amount})
        return f"refunded {amount} on {order}"

    clean.resolve_when_pending(decision="approve", payload={"order": "o_1", "amount": 50})
    with run(scope(), context="refund order o_1"):
        assert refund("o_1", 500) == "refunded 50 on o_1"
    assert ran == [{"order": "o_1", "amount": 50}]
    # The server lists newest first, but requests of the same second in id order: pick this
    # test's own request by its agent (the service), not by position.
    mine = [r for r in requests_for(clean, "refund") if r["service"] == agent]
    assert len(mine) == 1
    row = mine[0]
    assert row["schema"] == schema
    assert row["context"]["task"] == "refund order o_1"
    assert row["context"]["firewall"]["action"] == "review" and row["context"]["firewall"]["reasons"]
    summaries = clean.operator("GET", "/v1/requests?view=summary&limit=200").json()["requests"]
    assert [r["held"] for r in summaries if r["id"] == row["id"]] == [True]
    assert flush(30)
    tools = clean.operator("GET", f"/v1/agents/{agent}").json()["telemetry"]["tools"]
    assert tools["refund"]["outcomes"] == {"approved": 1}


def test_review_rejected_raises_or_returns_the_text(clean: Server) -> None:
    client = client_for(clean)
    fw = Firewall({"always_review": ["wire", "wire_quiet"]}, mode="enforce")
    ran: List[int] = []

    @guard(effect="payment", client=client, firewall=fw)
    def wire(amount: int) -> str:
        ran.append(amount)
        return "sent"

    @guard(effect="payment", client=client, firewall=fw, on_reject="return")
    def wire_quiet(amount: int) -> str:
        ran.append(amount)
        return "sent"

    with run(scope()):
        clean.resolve_when_pending(decision="reject", reason="not this month")
        with pytest.raises(Rejected) as e:
            wire(900)
        assert e.value.code == "rejected" and e.value.reason == "not this month"
        assert isinstance(e.value, HandrailError)
        clean.resolve_when_pending(decision="reject", reason="no")
        assert wire_quiet(901) == "REJECTED: no"
    assert ran == []


def test_block_raises_without_running_or_asking(clean: Server) -> None:
    fw = Firewall({"deny": ["drop_table"]}, mode="enforce")
    ran: List[str] = []

    @guard(effect="destructive", client=client_for(clean), firewall=fw)
    def drop_table(name: str) -> None:
        ran.append(name)

    with pytest.raises(Blocked) as e:
        drop_table("users")
    assert e.value.code == "blocked" and e.value.verdict is not None and e.value.verdict.action == "block"
    assert ran == [] and requests_for(clean, "drop_table") == []


def test_shadow_mode_runs_what_it_would_review() -> None:
    ran: List[int] = []

    @guard(effect="payment", firewall=Firewall({"always_review": ["pay"]}, mode="shadow"))
    def pay(amount: int) -> int:
        ran.append(amount)
        return amount

    with run(scope()):
        assert pay(5) == 5
    assert ran == [5]


def test_a_retried_call_runs_once_and_asks_once(clean: Server) -> None:
    client = client_for(clean)
    fw = Firewall({"always_review": ["charge"]}, mode="enforce")
    ran: List[int] = []

    @guard(effect="payment", client=client, firewall=fw)
    def charge(amount: int) -> str:
        ran.append(amount)
        return f"charged {amount} #{len(ran)}"

    clean.resolve_when_pending(decision="approve")
    s = scope()
    with run(s):
        first = charge(70)
        assert charge(70) == first  # the retry: same key, first result
        assert charge(amount=70) == first  # the same call spelled differently
    assert first == "charged 70 #1" and ran == [70]
    assert len([r for r in requests_for(clean, "charge") if r["payload"] == {"amount": 70}]) == 1
    with run(scope()):  # another run is another call
        clean.resolve_when_pending(decision="approve")
        assert charge(70) == "charged 70 #2"


def test_a_re_executed_step_in_a_fresh_process_gets_the_first_request(clean: Server) -> None:
    """Across processes the in-memory record is gone; the review's idempotency key brings
    back the first request and its decision instead of asking again."""
    client = client_for(clean)
    fw = Firewall({"always_review": ["ship"]}, mode="enforce")
    ran: List[str] = []

    def ship(sku: str) -> str:
        ran.append(sku)
        return "shipped"

    s = scope()
    clean.resolve_when_pending(decision="approve")
    with run(s):
        assert guard(ship, client=client, firewall=fw)("sku-1") == "shipped"
    handrail.once.forget(guard(ship, client=client, firewall=fw).guard.key(s, {"sku": "sku-1"}))
    with run(s):
        assert guard(ship, client=client, firewall=fw)("sku-1") == "shipped"
    assert len(requests_for(clean, "ship")) == 1 and ran == ["sku-1", "sku-1"]


def test_async_tools_are_guarded(clean: Server) -> None:
    client = handrail.AsyncClient(clean.url, clean.agent_key)
    fw = Firewall({"always_review": ["send_email"]}, mode="enforce")
    sent: List[str] = []

    @guard(effect="egress", client=client, firewall=fw)
    async def send_email(to: str, body: str) -> str:
        sent.append(to)
        return "ok"

    async def main() -> None:
        with run(scope(), context="email bob@example.com"):
            clean.resolve_when_pending(decision="approve", payload={"to": "bob@example.com", "body": "hi!"})
            assert await send_email("bob@evil.example", "hi") == "ok"
            assert await send_email("bob@evil.example", "hi") == "ok"
        await client.aclose()

    asyncio.run(main())
    assert sent == ["bob@example.com"]


def test_tool_texts(clean: Server) -> None:
    ask_human = tool(client_for(clean), service="assistant")
    with run(scope()):
        clean.resolve_when_pending(decision="approve")
        assert ask_human("delete_file", {"path": "/tmp/a"}) == "APPROVED"
        clean.resolve_when_pending(decision="approve", payload={"amount": 50})
        assert ask_human("refund", {"amount": 500}, "the customer asked") == (
            'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50}'
        )
        clean.resolve_when_pending(decision="reject", reason="too risky")
        assert ask_human("wire", {"amount": 10_000}) == "REJECTED: too risky"
        # Asked again in the same run: the first answer, no second request.
        assert ask_human("wire", {"amount": 10_000}) == "REJECTED: too risky"
    assert len([r for r in requests_for(clean, "wire") if r["service"] == "assistant"]) == 1


def test_observation_failures_never_reach_the_tool() -> None:
    """A server that is down: the tool still returns, the event stays queued."""
    client = Client("http://127.0.0.1:9", "hr_test_unreachable")

    @guard(effect="read", client=client, firewall=Firewall(), agent="offline-agent")
    def ping() -> str:
        return "pong"

    assert ping() == "pong"
    assert flush(0.05, client=client) is False
    _OBSERVERS.pop(id(client))  # nothing will ever take it; do not hold the exit for it


def test_readme_guard_example(clean: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    clean.resolve_when_pending(decision="approve", payload={"order": "o_1", "amount": 50})
    # README START
    from handrail import Client, Firewall
    from handrail.guard import guard, run

    client = Client()
    firewall = Firewall({"always_review": ["refund"]}, mode="enforce")

    @guard(effect="payment", client=client, firewall=firewall, agent="billing")
    def refund(order: str, amount: int) -> str:
        return f"refunded {amount} on {order}"

    with run("thread-1", context="refund order o_1"):
        print(refund("o_1", 500))  # a person approved 50: "refunded 50 on o_1"
    # README END
    assert capsys.readouterr().out == "refunded 50 on o_1\n"


# The same sequence as bindings-node/test/guard.test.mjs ("both SDKs record the same
# outcomes"): ran, approved, rejected, an enforced block (nothing), a shadow hold (ran).
SAME_SEQUENCE_OUTCOMES = {
    "lookup": {"ran": 1},
    "refund": {"approved": 1, "rejected": 1},
    "pay": {"ran": 1},
}


def test_the_same_sequence_records_the_same_outcomes_as_node(clean: Server) -> None:
    client = client_for(clean)
    agent = f"same-{uuid.uuid4().hex[:8]}"
    policy = {"allow": ["lookup"], "deny": ["drop_database"], "always_review": ["refund", "pay"]}
    fw = Firewall(policy, mode="enforce")
    shadow = Firewall(policy, mode="shadow")

    def lookup(id: str) -> str:
        return f"found {id}"

    def refund(order: str, amount: int) -> str:
        return f"refunded {amount}"

    def drop_database(name: str) -> str:
        return "dropped"

    def pay(amount: int) -> str:
        return f"paid {amount}"

    with run(scope(), context="Refund order 1"):
        assert guard(lookup, client=client, firewall=fw, agent=agent)("o1") == "found o1"
        clean.resolve_when_pending(decision="approve")
        assert guard(refund, client=client, firewall=fw, agent=agent)("o1", 5) == "refunded 5"
        clean.resolve_when_pending(decision="reject", reason="no")
        quiet = guard(refund, client=client, firewall=fw, agent=agent, on_reject="return")
        assert quiet("o2", 6) == "REJECTED: no"
        with pytest.raises(Blocked):
            guard(drop_database, client=client, firewall=fw, agent=agent)("prod")
        # Shadow mode: the firewall would hold pay (always_review); it runs, nobody is asked.
        assert guard(pay, client=client, firewall=shadow, agent=agent)(7) == "paid 7"
    assert [r for r in requests_for(clean, "pay") if r["service"] == agent] == []
    assert flush(30)
    tools = clean.operator("GET", f"/v1/agents/{agent}").json()["telemetry"]["tools"]
    assert {t: v["outcomes"] for t, v in tools.items()} == SAME_SEQUENCE_OUTCOMES

"""The published AEGIS client (`aegis-idempotency` 0.1.2), used as its README shows, against a
real `handrail serve` under `/compat/aegis`."""

import asyncio

import httpx
import pytest
from aegis_hitl import AegisClient


@pytest.fixture(scope="module")
def server(server):
    """The module's fresh server (conftest.py) as (base URL, agent key, operator token)."""
    return server.url, server.agent_key, server.operator_token


def ours(url, token, path):
    """GET on our own API."""
    r = httpx.get(url + path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def status_of(url, agent, rid):
    """`get_status` sends no credentials of its own: give it a client that carries the key
    (the constructor's documented `client=` parameter)."""

    async def status():
        http = httpx.AsyncClient(base_url=url + "/compat/aegis", headers={"Authorization": f"Bearer {agent}"})
        async with AegisClient(api_key=agent, thread_id="order-42", client=http) as c:
            r = await c.get_status(rid)
        await http.aclose()
        return r

    return asyncio.run(status())


def decide(url, operator, rid, decision):
    r = httpx.post(url + f"/v1/requests/{rid}/resolve", json={"decision": decision},
                   headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_an_agents_approve_is_queued_for_a_person_never_self_approved(server):
    url, agent, operator = server

    async def flow():
        async with AegisClient(base_url=url + "/compat/aegis", api_key=agent, thread_id="order-42") as c:
            first = await c.approve("idem-approve-1", payload={"action": "send_email", "to": "a@example.com"})
            again = await c.approve("idem-approve-1", payload={"action": "send_email", "to": "a@example.com"})
            other_verb = await c.reject("idem-approve-1")
            return first, again, other_verb

    first, again, other_verb = asyncio.run(flow())
    # Accepted and queued: a pending request, not a decision.
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "PENDING" and first.json()["status"] == "PENDING"
    assert first.json()["self_declared"] is False and first.json()["requested"] == "approve"
    assert again.status_code == 409 and other_verb.status_code == 409
    rid = first.json()["request_id"]
    assert again.json()["request_id"] == rid and again.json()["state"] == "PENDING"

    r = status_of(url, agent, rid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "PENDING" and body["decided_by"] is None
    assert body["thread_id"] == "order-42" and body["payload"]["to"] == "a@example.com"

    # In our own model: an ordinary pending request; nothing decided it.
    row = ours(url, operator, f"/v1/requests/{rid}")
    assert row["service"] == "aegis" and row["action"] == "send_email"
    assert row["status"] == "PENDING" and "decision" not in row
    events = [e["event"] for e in ours(url, operator, "/v1/audit")["entries"]]
    assert "request.self_declared" not in events

    # No other view of the same id calls it approved: our wait, LetsPing's status, and
    # LoopPause's pause (which would otherwise be a forged human sign-off with a valid HMAC).
    waited = httpx.get(url + f"/v1/requests/{rid}/wait?timeout=1", headers={"Authorization": f"Bearer {agent}"})
    assert waited.json()["status"] == "PENDING"
    lp_status = httpx.get(url + f"/compat/letsping/api/status/{rid}", headers={"Authorization": f"Bearer {agent}"})
    assert lp_status.json()["status"] == "PENDING"
    pause = httpx.get(url + f"/compat/looppause/v1/pauses/{rid}", headers={"Authorization": f"Bearer {agent}"})
    assert pause.json() == {"pause_id": rid, "status": "pending"}

    # A person decides; then the status shows it, with the operator and the proof.
    decision = decide(url, operator, rid, "approve")
    body = status_of(url, agent, rid).json()
    assert body["state"] == "COMMITTED" and body["status"] == "APPROVED"
    assert body["decided_by"] == decision["actor"] and body["proof"] == decision["proof"]
    assert body["self_declared"] is False
    pause = httpx.get(url + f"/compat/looppause/v1/pauses/{rid}", headers={"Authorization": f"Bearer {agent}"})
    assert pause.json()["authorization_type"] == "human" and pause.json()["responder"] == decision["actor"]


def test_reject_is_queued_too(server):
    url, agent, operator = server

    async def flow():
        async with AegisClient(base_url=url + "/compat/aegis", api_key=agent, thread_id="thr-7") as c:
            return await c.execute("reject", "idem-reject-1", payload={"action": "refund", "amount": 5})

    r = asyncio.run(flow())
    assert r.status_code == 202, r.text
    rid = r.json()["request_id"]
    row = ours(url, operator, f"/v1/requests/{rid}")
    assert row["status"] == "PENDING" and row["context"]["aegis_verb"] == "reject"
    decide(url, operator, rid, "reject")
    assert status_of(url, agent, rid).json()["status"] == "REJECTED"


def test_tenant_comes_from_the_key_never_a_header(server):
    url, agent, operator = server

    async def flow():
        # The self-hosted form: a Tenant-Id header and no key.
        async with AegisClient(base_url=url + "/compat/aegis", tenant_id="t1", thread_id="thr1") as c:
            posted = await c.approve("idem-tenant-1")
            status = await c.get_status("req_anything")
            return posted, status

    posted, status = asyncio.run(flow())
    assert posted.status_code == 401
    assert status.status_code == 401
    listed = ours(url, operator, "/v1/requests?limit=1000")["requests"]
    assert all((r.get("context") or {}).get("idempotency_key") != "idem-tenant-1" for r in listed)

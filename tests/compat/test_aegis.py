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


def test_approve_then_duplicate_then_status(server):
    url, agent, operator = server

    async def flow():
        async with AegisClient(base_url=url + "/compat/aegis", api_key=agent, thread_id="order-42") as c:
            first = await c.approve("idem-approve-1", payload={"action": "send_email", "to": "a@example.com"})
            again = await c.approve("idem-approve-1", payload={"action": "send_email", "to": "a@example.com"})
            other_verb = await c.reject("idem-approve-1")
            return first, again, other_verb

    first, again, other_verb = asyncio.run(flow())
    assert first.status_code == 202, first.text
    assert again.status_code == 409 and other_verb.status_code == 409
    rid = first.json()["request_id"]
    assert again.json()["request_id"] == rid
    assert first.json()["state"] == "COMMITTED" and first.json()["status"] == "APPROVED"

    # get_status sends no credentials of its own: give it a client that carries the key
    # (the constructor's documented `client=` parameter).
    async def status():
        http = httpx.AsyncClient(base_url=url + "/compat/aegis", headers={"Authorization": f"Bearer {agent}"})
        async with AegisClient(api_key=agent, thread_id="order-42", client=http) as c:
            r = await c.get_status(rid)
        await http.aclose()
        return r

    r = asyncio.run(status())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "COMMITTED" and body["self_declared"] is True
    assert body["thread_id"] == "order-42" and body["payload"]["to"] == "a@example.com"

    # In our own model: an ordinary request, decided as self-declared, with no proof.
    row = ours(url, operator, f"/v1/requests/{rid}")
    assert row["service"] == "aegis" and row["action"] == "send_email"
    assert row["status"] == "APPROVED"
    assert row["decision"]["actor"].startswith("self-declared:")
    assert "proof" not in row["decision"]
    events = [e["event"] for e in ours(url, operator, "/v1/audit")["entries"]]
    assert "request.self_declared" in events
    assert "request.resolved" not in events


def test_reject(server):
    url, agent, operator = server

    async def flow():
        async with AegisClient(base_url=url + "/compat/aegis", api_key=agent, thread_id="thr-7") as c:
            return await c.execute("reject", "idem-reject-1", payload={"action": "refund", "amount": 5})

    r = asyncio.run(flow())
    assert r.status_code == 202, r.text
    row = ours(url, operator, f"/v1/requests/{r.json()['request_id']}")
    assert row["status"] == "REJECTED"
    assert row["decision"]["actor"].startswith("self-declared:")


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

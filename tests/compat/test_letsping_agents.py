"""LetsPing's signed ingest with their published helpers: a registered agent's signature is
checked in the Python form their client sends and in the JavaScript `JSON.stringify` form;
a bad one is refused in their error shape; self-serve sign-up is refused unless an admin
opens a sign-up window."""

import hashlib
import hmac
import json

import httpx
import pytest
from letsping import LetsPingError, create_agent_workspace, ingest_with_agent_signature


def register(server):
    r = httpx.post(
        server.url + "/compat/letsping/api/agents/register",
        headers={"Authorization": f"Bearer {server.agent_key}"},
        json={},
    )
    r.raise_for_status()
    return r.json()


# Non-ASCII text and a float with no fraction: the Python and JavaScript forms differ in both.
PAYLOAD = {"note": "remboursé €5 😀", "amount": 5.0, "items": [1, 2]}


def test_python_signed_ingest_is_accepted(server):
    agent = register(server)
    answer = ingest_with_agent_signature(
        agent_id=agent["agent_id"], agent_secret=agent["agent_secret"],
        service="billing", action="refund", payload=PAYLOAD,
        project_id=agent["project_id"], ingest_url=server.url + "/compat/letsping/api/ingest",
        api_key=server.agent_key,
    )
    assert answer["status"] == "PENDING"
    row = server.operator("GET", f"/v1/requests/{answer['id']}")
    assert row["context"]["metadata"]["agent_id"] == agent["agent_id"]
    assert row["context"]["metadata"]["agent_signature_verified"] is True


def js_signed(agent, call):
    """Signs as a JavaScript agent does: HMAC over `JSON.stringify(call)` (UTF-8 as is, 5.0
    written as 5)."""
    js = json.dumps({**call, "payload": {**call["payload"], "amount": 5}}, separators=(",", ":"), ensure_ascii=False)
    assert js != json.dumps(call, separators=(",", ":"))
    sig = hmac.new(agent["agent_secret"].encode(), js.encode("utf-8"), hashlib.sha256).hexdigest()
    return {**call, "agent_id": agent["agent_id"], "agent_signature": sig}


def post_ingest(server, body):
    return httpx.post(
        server.url + "/compat/letsping/api/ingest",
        headers={"Authorization": f"Bearer {server.agent_key}"},
        json=body,
    )


def test_javascript_signed_ingest_is_accepted(server):
    agent = register(server)
    call = {"project_id": agent["project_id"], "service": "billing", "action": "refund", "payload": PAYLOAD}
    r = post_ingest(server, js_signed(agent, call))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PENDING"


def test_bad_signature_is_refused_in_their_shape(server):
    agent = register(server)
    with pytest.raises(LetsPingError) as e:
        ingest_with_agent_signature(
            agent_id=agent["agent_id"], agent_secret="not-the-secret",
            service="billing", action="refund", payload=PAYLOAD,
            project_id=agent["project_id"], ingest_url=server.url + "/compat/letsping/api/ingest",
            api_key=server.agent_key,
        )
    assert e.value.status == 401
    assert e.value.code == "LETSPING_SIGNATURE_INVALID"
    # A signature made for another project is refused too, even with the right secret.
    call = {"project_id": "someone-else", "service": "billing", "action": "refund", "payload": PAYLOAD}
    r = post_ingest(server, js_signed(agent, call))
    assert r.status_code == 401
    assert r.json() == {"error": "project_id is not the project of this API key", "code": "LETSPING_SIGNATURE_INVALID"}
    pending = server.operator("GET", "/v1/requests?status=PENDING")["requests"]
    assert all(r.get("context", {}).get("metadata", {}).get("agent_id") != agent["agent_id"] for r in pending)


def test_self_serve_sign_up_is_refused(server):
    with pytest.raises(LetsPingError) as e:
        create_agent_workspace(base_url=server.url + "/compat/letsping")
    assert e.value.status == 403
    assert e.value.code == "LETSPING_SIGNUP_DISABLED"


def test_sign_up_works_once_an_admin_opens_it(server):
    opened = server.operator("POST", "/compat/letsping/signup", {"signups": 1, "expires_in": 3600})
    assert opened["open"] is True and opened["remaining"] == 1
    # A token handed out before the sign-up is redeemed by someone else is refused later.
    spare = httpx.post(server.url + "/compat/letsping/api/agent-signup/request-token", json={}).json()["token"]

    ws = create_agent_workspace(base_url=server.url + "/compat/letsping")
    assert ws["project_id"].startswith("prj_")
    assert ws["ingest_url"] == server.url + "/compat/letsping/api/ingest"
    # Their documented next step: a signed ingest into the new project with its new key.
    answer = ingest_with_agent_signature(
        agent_id=ws["agent_id"], agent_secret=ws["agent_secret"],
        service="billing", action="refund", payload=PAYLOAD,
        project_id=ws["project_id"], ingest_url=ws["ingest_url"], api_key=ws["api_key"],
    )
    assert answer["status"] == "PENDING"
    # Not in the admin's project: a project of its own.
    pending = server.operator("GET", "/v1/requests?status=PENDING")["requests"]
    assert all(r["id"] != answer["id"] for r in pending)

    # The window is used up: their client is refused again, and so is the spare token.
    with pytest.raises(LetsPingError) as e:
        create_agent_workspace(base_url=server.url + "/compat/letsping")
    assert e.value.code == "LETSPING_SIGNUP_DISABLED"
    r = httpx.post(server.url + "/compat/letsping/api/agent-signup", json={"token": spare})
    assert r.status_code == 403
    forged = spare.rsplit(".", 1)[0] + "." + "0" * 64
    r = httpx.post(server.url + "/compat/letsping/api/agent-signup", json={"token": forged})
    assert r.status_code == 401 and r.json()["code"] == "LETSPING_SIGNUP_TOKEN_INVALID"

    # The admin sees the sign-up and claims the new project's operator token, once; with it
    # a person decides the agent's request.
    shown = server.operator("GET", "/compat/letsping/signup")
    assert shown["open"] is False
    assert [s["project_id"] for s in shown["signups"]] == [ws["project_id"]]
    token = server.operator("POST", "/compat/letsping/signup/claim", {"project": ws["project_id"]})["operator_token"]
    r = httpx.post(
        server.url + f"/v1/requests/{answer['id']}/resolve",
        headers={"Authorization": f"Bearer {token}"}, json={"decision": "approve"},
    )
    assert r.status_code == 200, r.text
    r = httpx.post(
        server.url + "/compat/letsping/signup/claim",
        headers={"Authorization": f"Bearer {server.operator_token}"}, json={"project": ws["project_id"]},
    )
    assert r.status_code == 404
    # The agent key cannot open a window.
    r = httpx.post(
        server.url + "/compat/letsping/signup",
        headers={"Authorization": f"Bearer {ws['api_key']}"}, json={"signups": 5, "expires_in": 60},
    )
    assert r.status_code == 403
    # Audited in the new project.
    audit = httpx.get(server.url + "/v1/audit", headers={"Authorization": f"Bearer {token}"}).json()
    events = [e["event"] for e in audit["entries"]]
    assert "project.created" in events

"""The published `looppause` client, used as its README documents, against `handrail serve`."""

import json
import threading

import pytest
from looppause_client import LoopPauseClient, LoopPauseDenied, verify_signature

from _lp_server import Server


@pytest.fixture
def client(server):
    return LoopPauseClient(
        api_key=server.agent_key,
        signing_secret=server.secrets()["looppause_signing_secret"],
        base_url=server.url + "/compat/looppause",
    )


def create(client, key, **kw):
    return client.create_pause(
        agent_id="billing-agent",
        action={"type": "payment", "description": "Pay Acme Corp $12,450"},
        recipients=[{"channel": "slack", "target": "#finance-approvals"}],
        idempotency_key=key,
        **kw,
    )


def test_approval_gives_a_verified_human_proof(server, client):
    pause_id = create(client, "idem_approve")
    assert create(client, "idem_approve") == pause_id  # the same key, the same pause
    threading.Thread(target=server.approve, args=(pause_id,), daemon=True).start()
    proof = client.wait_for_proof(pause_id, poll_interval=0.1)
    assert proof.human_authorized
    assert proof.pause_id == pause_id and proof.decision == "approved"
    assert proof.responder.startswith("key_")


def test_rejection_is_a_verified_proof_not_authorized(server, client):
    pause_id = create(client, "idem_reject")
    server.reject(pause_id, "over budget")
    proof = client.wait_for_proof(pause_id, poll_interval=0.1)
    assert proof.decision == "rejected" and not proof.human_authorized
    assert proof.comment == "over budget"


def test_unicode_in_the_proof_is_signed_as_python_dumps_it(server, client):
    pause_id = create(client, "idem_unicode")
    server.reject(pause_id, "zu teuer: 12.450 € 😀")
    proof = client.wait_for_proof(pause_id, poll_interval=0.1)
    assert proof.comment == "zu teuer: 12.450 € 😀"


def test_a_rotated_secret_fails_closed(server, client):
    pause_id = create(client, "idem_rotate")
    server.approve(pause_id)
    server.operator("POST", "/compat/secrets/rotate", {"secret": "looppause_signing_secret"})
    with pytest.raises(LoopPauseDenied):
        client.wait_for_proof(pause_id, poll_interval=0.1)
    fresh = LoopPauseClient(
        api_key=server.agent_key,
        signing_secret=server.secrets()["looppause_signing_secret"],
        base_url=server.url + "/compat/looppause",
    )
    assert fresh.wait_for_proof(pause_id, poll_interval=0.1).human_authorized


def test_timed_out_fails_closed(client):
    pause_id = create(client, "idem_timeout", timeout_hours=0)
    with pytest.raises(LoopPauseDenied, match="timed_out"):
        client.wait_for_proof(pause_id, poll_interval=0.1)


def test_auto_approve_fails_closed_an_agent_cannot_approve_itself_by_waiting(server, client):
    pause_id = create(
        client, "idem_fallback", timeout_hours=0,
        escalation={"after_hours": 0, "escalate_to": "manager@acme.eu", "fallback_action": "auto_approve"},
    )
    with pytest.raises(LoopPauseDenied, match="timed_out"):
        client.wait_for_proof(pause_id, poll_interval=0.1)


def test_auto_reject_is_a_system_fallback_not_a_human_sign_off(server, client):
    pause_id = create(
        client, "idem_fallback_reject", timeout_hours=0,
        escalation={"after_hours": 0, "fallback_action": "auto_reject"},
    )
    proof = client.wait_for_proof(pause_id, poll_interval=0.1)
    assert proof.decision == "rejected" and proof.authorization_type == "system_fallback"
    assert not proof.human_authorized
    assert verify_signature(proof.raw, client.signing_secret)


def test_escalation_after_hours_notifies_the_person_it_names(client):
    """`escalation.after_hours` (fractions allowed: 0.0003 h is about a second, which their
    client passes through as is) marks the pending pause escalated: an `escalations` entry
    naming `escalate_to`, the audit entry, and our `request.escalated` webhook, whose receiver
    (the operator's notification hook) mails or pages that person. The pause stays pending,
    for a person to decide."""
    from _receiver import Receiver, until

    own = Server()  # an endpoint of its own, so the other tests' events stay out of it
    receiver = Receiver()
    try:
        own.operator("POST", "/v1/webhooks", {"url": receiver.url + "/hook"})
        lp = LoopPauseClient(api_key=own.agent_key, signing_secret=own.secrets()["looppause_signing_secret"],
                             base_url=own.url + "/compat/looppause")
        pause_id = create(lp, "idem_escalate",
                          escalation={"after_hours": 0.0003, "escalate_to": "manager@acme.eu",
                                      "fallback_action": "auto_reject"})
        events = []

        def escalated():
            for _, _, body in receiver.all():
                events.append(json.loads(body))
            return [e for e in events if e["type"] == "request.escalated" and e["data"]["id"] == pause_id]

        (event,) = until("the request.escalated webhook", escalated)
        assert event["data"]["escalations"] == [{"target": "manager@acme.eu", "at": event["timestamp"]}]
        assert event["data"]["status"] == "PENDING" and "role" not in event["data"]
        entries = own.operator("GET", "/v1/audit?limit=1000")["entries"]
        (entry,) = [e for e in entries if e["event"] == "request.escalated" and e["subject"] == pause_id]
        assert entry["actor"] == "system" and entry["data"]["target"] == "manager@acme.eu"
        # Escalated once only, and still a person's decision.
        own.approve(pause_id)
        proof = lp.wait_for_proof(pause_id, poll_interval=0.1)
        assert proof.human_authorized and proof.decision == "approved"
        stored = own.operator("GET", f"/v1/requests/{pause_id}")
        assert len(stored["escalations"]) == 1
    finally:
        receiver.close()
        own.stop()


def test_escalate_to_a_role_routes_the_pause_to_it(server, client):
    from _receiver import until

    server.operator("POST", "/v1/roles", {"name": "finance-managers"})
    pause_id = create(client, "idem_escalate_role",
                      escalation={"after_hours": 0.0003, "escalate_to": "finance-managers"})

    def moved():
        row = server.operator("GET", f"/v1/requests/{pause_id}")
        return row if row.get("escalations") else None

    row = until("the pause escalated", moved)
    assert row["role"] == "finance-managers"
    assert [(e.get("from"), e["to"], e["target"]) for e in row["escalations"]] == [
        (None, "finance-managers", "finance-managers")]
    server.approve(pause_id)  # the bootstrap operator decides every role
    assert client.wait_for_proof(pause_id, poll_interval=0.1).human_authorized


@pytest.mark.parametrize("n,escalation", list(enumerate([
    {"after_hours": "soon", "escalate_to": "manager@acme.eu"},
    {"after_hours": -1},
    {"after_hours": 1, "escalate_to": 42},
])))
def test_a_bad_escalation_is_refused(client, n, escalation):
    import httpx

    with pytest.raises(httpx.HTTPStatusError) as e:
        create(client, f"idem_bad_escalation_{n}", escalation=escalation)
    assert e.value.response.status_code == 400

"""The published `looppause` client, used as its README documents, against `handrail serve`."""

import threading

import pytest
from looppause_client import LoopPauseClient, LoopPauseDenied, verify_signature

from _lp_server import Server


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


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


def test_fallback_action_is_a_system_fallback_not_a_human_sign_off(server, client):
    pause_id = create(
        client, "idem_fallback", timeout_hours=0,
        escalation={"after_hours": 0, "escalate_to": "manager@acme.eu", "fallback_action": "auto_approve"},
    )
    proof = client.wait_for_proof(pause_id, poll_interval=0.1)
    assert proof.decision == "approved" and proof.authorization_type == "system_fallback"
    assert not proof.human_authorized
    assert verify_signature(proof.raw, client.signing_secret)

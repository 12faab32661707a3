"""The Python client against a real ``handrail serve`` (see conftest.py): people decide
through the operator API from another thread while the client long-polls."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import threading

import pytest

import handrail
from handrail import (
    AsyncClient,
    AuthError,
    Client,
    DecryptionFailed,
    ExpiredError,
    HandrailError,
    ProofError,
    WaitTimeout,
    once,
)

from conftest import Server


def new_key(kid: str = "team") -> str:
    return f"hrk1.{kid}." + base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def test_ask_approve_and_the_proof_verifies(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    clean.resolve_when_pending(decision="approve")
    decision = client.ask("stripe", "refund", {"amount": 500, "to": "acct_1"}, timeout=60)
    assert decision.status == "APPROVED" and decision.approved
    assert decision.payload == {"amount": 500, "to": "acct_1"}
    assert decision.patched_payload is None and decision.diff is None
    assert decision.actor and decision.actor.startswith("key_")
    claims = client.verify_proof(decision)
    assert claims["rid"] == decision.request_id and claims["dec"] == "APPROVED"
    assert client.status(decision.request_id) == "APPROVED"


def test_the_proof_binds_the_project_and_the_issuer(clean: Server) -> None:
    project = clean.operator("GET", "/v1/keys/me").json()["project"]
    issuer = clean.operator("GET", "/v1/keys/proof").json()["issuer"]
    client = Client(clean.url, clean.agent_key)
    clean.resolve_when_pending(decision="approve")
    decision = client.ask("stripe", "refund", {"amount": 7}, timeout=60)
    claims = client.verify_proof(decision)
    assert (claims["prj"], claims["iss"]) == (project, issuer)
    pinned = Client(clean.url, clean.agent_key, expect_project=project, expect_issuer=issuer)
    assert pinned.verify_proof(decision)["jti"] == claims["jti"]
    # Pinned to another project or another server: the same proof is refused.
    for kwargs, code in (({"expect_project": "prj_other"}, "proof_project"), ({"expect_issuer": "srv_x"}, "proof_issuer")):
        with pytest.raises(ProofError) as info:
            Client(clean.url, clean.agent_key, **kwargs).verify_proof(decision)
        assert info.value.code == code


def test_readme_example(clean: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDRAIL_URL", clean.url)
    monkeypatch.setenv("HANDRAIL_API_KEY", clean.agent_key)
    clean.resolve_when_pending(decision="approve")
    refunds = []
    # START README
    client = handrail.Client()  # reads HANDRAIL_URL, HANDRAIL_API_KEY, HANDRAIL_ENCRYPTION_KEY
    decision = client.ask("stripe", "refund", {"amount": 500, "to": "acct_1"})
    if decision.approved:
        refunds.append(decision.payload)  # the edited payload, if a person edited it
    # END README
    assert refunds == [{"amount": 500, "to": "acct_1"}]


def test_approve_with_an_edit_gives_the_diff(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    clean.resolve_when_pending(decision="approve", payload={"amount": 50, "to": "acct_1"})
    decision = client.ask("stripe", "refund", {"amount": 500, "to": "acct_1"})
    assert decision.status == "APPROVED_WITH_MODIFICATIONS"
    assert decision.payload == decision.patched_payload == {"amount": 50, "to": "acct_1"}
    assert decision.diff == {
        "ops": [{"op": "replace", "path": "/amount", "value": 50}],
        "summary": "amount: 500 → 50",
    }
    assert client.verify_proof(decision)["dec"] == "APPROVED_WITH_MODIFICATIONS"


def test_reject_with_a_reason_is_a_decision_not_an_error(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    clean.resolve_when_pending(decision="reject", reason="customer already refunded")
    decision = client.ask("stripe", "refund", {"amount": 500})
    assert (decision.status, decision.approved) == ("REJECTED", False)
    assert decision.payload is None
    assert decision.reason == "customer already refunded"


def test_expiry_raises(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    with pytest.raises(ExpiredError) as info:
        client.ask("stripe", "refund", {"amount": 1}, expires_in=1)
    assert info.value.code == "expired"


def test_wait_timeout_raises_and_the_request_stays_open(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    request_id = client.defer("stripe", "refund", {"amount": 2})
    with pytest.raises(WaitTimeout) as info:
        client.wait(request_id, timeout=1)
    assert info.value.code == "wait_timeout"
    assert client.status(request_id) == "PENDING"
    clean.resolve(request_id, decision="approve")
    assert client.wait(request_id, timeout=30).status == "APPROVED"


def test_encrypted_payload_round_trips_and_the_server_stores_only_an_envelope(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key, encryption_key=new_key())
    request_id = client.defer("gmail", "send_email", {"to": "ceo@example.com", "body": "secret plan"})
    stored = clean.operator("GET", f"/v1/requests/{request_id}").json()
    assert set(stored["payload"]) >= {"v", "alg", "kid", "iv", "ct"}
    listing = clean.operator("GET", "/v1/requests").text
    assert "secret plan" not in listing and "ceo@example.com" not in listing
    clean.resolve(request_id, decision="approve")
    decision = client.wait(request_id)
    assert decision.payload == {"to": "ceo@example.com", "body": "secret plan"}
    client.verify_proof(decision)
    # Another key cannot read it, and says so instead of returning ciphertext.
    other = Client(clean.url, clean.agent_key, encryption_key=new_key())
    with pytest.raises(DecryptionFailed) as info:
        other.wait(request_id)
    assert info.value.code == "decrypt_failed"
    with pytest.raises(DecryptionFailed) as info:
        Client(clean.url, clean.agent_key).wait(request_id)
    assert info.value.code == "no_key"
    # A client that encrypts refuses a plain payload where its envelope belongs.
    plain_id = Client(clean.url, clean.agent_key).defer("s", "a", {"x": 1})
    clean.resolve(plain_id, decision="approve")
    with pytest.raises(DecryptionFailed) as info:
        client.wait(plain_id)
    assert info.value.code == "not_encrypted"


def test_state_snapshot_round_trip(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key, encryption_key=new_key())
    state = {"messages": ["refund order 42?"], "step": 3, "cart": [1, 2.5, None]}
    request_id = client.defer("stripe", "refund", {"amount": 9}, state_snapshot=state)
    raw = clean.operator("GET", f"/v1/requests/{request_id}/snapshot")
    assert raw.status_code == 200 and b"refund order" not in raw.content
    clean.resolve(request_id, decision="approve")
    decision = client.wait(request_id)
    assert decision.state == state
    with pytest.raises(HandrailError) as info:
        Client(clean.url, clean.agent_key).defer("s", "a", {}, state_snapshot={"x": 1})
    assert info.value.code == "invalid_key"


def test_rerunning_the_same_step_does_not_open_a_second_request(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key, encryption_key=new_key())
    before = len(clean.operator("GET", "/v1/requests").json()["requests"])
    first = client.defer("stripe", "refund", {"amount": 7, "to": "a"}, idempotency_scope="thread-1:node-refund")
    again = client.defer("stripe", "refund", {"to": "a", "amount": 7}, idempotency_scope="thread-1:node-refund")
    assert again == first
    after = len(clean.operator("GET", "/v1/requests").json()["requests"])
    assert after == before + 1
    # Decided once, a re-executed step (LangGraph after resume) gets that decision back.
    clean.resolve(first, decision="approve")
    decision = client.ask("stripe", "refund", {"amount": 7, "to": "a"}, idempotency_scope="thread-1:node-refund")
    assert (decision.request_id, decision.status) == (first, "APPROVED")
    # Two workers running the same step at once: still one request.
    barrier = threading.Barrier(4)
    ids: "list[str]" = []

    def worker() -> None:
        barrier.wait()
        ids.append(client.defer("stripe", "refund", {"amount": 8}, idempotency_scope="thread-3:node"))

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(ids) == 4 and len(set(ids)) == 1
    assert len(clean.operator("GET", "/v1/requests").json()["requests"]) == after + 1
    # Another scope is another request.
    other = client.defer("stripe", "refund", {"amount": 7, "to": "a"}, idempotency_scope="thread-2:node-refund")
    assert other != first


def test_bad_key_raises_auth_error(server: Server) -> None:
    client = Client(server.url, "hr_agent_not-a-key")
    with pytest.raises(AuthError) as info:
        client.defer("stripe", "refund", {"amount": 1})
    assert info.value.code == "unauthorized"
    assert isinstance(info.value, HandrailError)
    # The key never shows in a repr (or a log line made from one).
    shown = repr(client._protocol)
    assert "hr_agent_not-a-key" not in shown and "[redacted]" in shown


def test_tampered_proof_fails(clean: Server) -> None:
    client = Client(clean.url, clean.agent_key)
    clean.resolve_when_pending(decision="approve")
    decision = client.ask("stripe", "refund", {"amount": 500})
    head, claims, sig = (decision.proof or "").split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged_claims["act"] = "key_someone_else"
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    # One signature character changed for certain (replacing the last two with "AA" left a
    # signature that already ended in "AA" valid: a 1-in-256 flake).
    flipped = sig[:-2] + ("B" if sig[-2] != "B" else "C") + sig[-1]
    for proof in (f"{head}.{forged}.{sig}", f"{head}.{claims}.{flipped}"):
        with pytest.raises(ProofError) as info:
            client.verify_proof(dataclasses.replace(decision, proof=proof))
        assert info.value.code.startswith("proof_")
    # The proof of one decision does not vouch for another request.
    clean.resolve_when_pending(decision="approve")
    other = client.ask("stripe", "refund", {"amount": 501})
    with pytest.raises(ProofError):
        client.verify_proof(dataclasses.replace(other, proof=decision.proof))


def test_async_client(clean: Server) -> None:
    async def main() -> None:
        async with AsyncClient(clean.url, clean.agent_key, encryption_key=new_key()) as client:
            clean.resolve_when_pending(decision="approve", payload=None)
            decision = await client.aask("stripe", "refund", {"amount": 3}, state_snapshot={"s": 1})
            assert (decision.status, decision.payload, decision.state) == ("APPROVED", {"amount": 3}, {"s": 1})
            assert (await client.averify_proof(decision))["rid"] == decision.request_id
            request_id = await client.adefer("stripe", "refund", {"amount": 4})
            with pytest.raises(WaitTimeout):
                await client.await_(request_id, timeout=1)
            clean.resolve(request_id, decision="reject", reason="no")
            assert (await client.await_(request_id)).reason == "no"
            assert await client.astatus(request_id) == "REJECTED"
        async with AsyncClient(clean.url, "hr_agent_wrong") as bad:
            with pytest.raises(AuthError):
                await bad.adefer("s", "a", {})

    asyncio.run(main())


def test_missing_settings_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDRAIL_URL", raising=False)
    monkeypatch.delenv("HANDRAIL_API_KEY", raising=False)
    with pytest.raises(HandrailError) as info:
        Client()
    assert info.value.code == "invalid_options"
    with pytest.raises(HandrailError) as info:
        Client("http://127.0.0.1:9", "k", encryption_key="not-a-key")
    assert info.value.code == "invalid_key"


def test_once_runs_a_block_once_per_key() -> None:
    calls = []
    key = f"refund:{os.urandom(4).hex()}"

    @once(key)
    def refund(amount: int) -> str:
        calls.append(amount)
        return f"re_{amount}"

    assert refund(5) == "re_5"
    assert refund(5) == "re_5"  # a retry returns the first result
    assert once(key).call(lambda: "other") == "re_5"
    assert calls == [5] and once(key).done

    # Two threads, one key: one runs, the other gets its result.
    key2 = key + ":threads"
    started = threading.Barrier(2)
    results = []

    def work() -> None:
        started.wait()
        results.append(once(key2).call(lambda: calls.append("t") or "done"))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["done", "done"] and calls.count("t") == 1

    # A block that raises records nothing: the retry runs again.
    key3 = key + ":fails"
    with pytest.raises(RuntimeError):
        once(key3).call(lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert once(key3).call(lambda: 1) == 1


def test_webhook_delivers_the_decision_with_its_state(clean: Server) -> None:
    import http.server

    deliveries: "list[tuple[bytes, list[tuple[str, str]]]]" = []
    arrived = threading.Condition()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["content-length"]))
            with arrived:
                deliveries.append((body, list(self.headers.items())))
                arrived.notify_all()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    # Lives for the session: the endpoint stays registered for the project.
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = clean.operator("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{receiver.server_port}/hook"})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    client = Client(clean.url, clean.agent_key, encryption_key=new_key())
    state = {"thread": "t-9", "messages": ["please refund"]}
    request_id = client.defer("stripe", "refund", {"amount": 12}, state_snapshot=state)
    clean.resolve(request_id, decision="approve")

    def resolved() -> "tuple[bytes, list[tuple[str, str]]] | None":
        for body, headers in deliveries:
            event = json.loads(body)
            if event["type"] == "request.resolved" and event["data"]["id"] == request_id:
                return body, headers
        return None

    with arrived:
        assert arrived.wait_for(resolved, timeout=60), "no delivery for the decision"
        found = resolved()
    assert found is not None
    body, headers = found
    event = client.verify_webhook(body, headers, secret)
    assert (event.type, event.request_id, event.status) == ("request.resolved", request_id, "APPROVED")
    assert event.decision is not None
    assert event.decision.payload == {"amount": 12}
    assert event.decision.state == state
    client.verify_proof(event.decision)
    with pytest.raises(handrail.WebhookError) as info:
        client.verify_webhook(body.replace(b"APPROVED", b"REJECTED"), headers, secret)
    assert info.value.code == "webhook_signature"

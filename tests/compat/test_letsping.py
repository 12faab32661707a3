"""The published `letsping` client, used as its README documents, against `handrail serve`."""

import http.server
import json
import queue
import threading
import time

import pytest
from letsping import ApprovalRejectedError, LetsPing


def decide_later(action):
    t = threading.Thread(target=action, daemon=True)
    t.start()
    return t


def pending_id(server, service):
    """The id of the newest pending request of `service` (what the dashboard shows)."""
    while True:
        for r in server.operator("GET", "/v1/requests?status=PENDING")["requests"]:
            if r["service"] == service:
                return r["id"]
        time.sleep(0.05)


def test_ask_blocks_until_an_operator_approves(server, lp):
    decide_later(lambda: server.approve(pending_id(server, "billing-agent")))
    decision = lp.ask(service="billing-agent", action="refund_user", payload={"user_id": "u_123", "amount": 100})
    assert decision["status"] == "APPROVED"
    assert decision["payload"] == {"user_id": "u_123", "amount": 100}
    assert decision["metadata"]["actor_id"].startswith("key_")
    assert decision["metadata"]["resolved_at"].endswith("Z")


def test_defer_then_wait_sees_an_edit(server, lp):
    request_id = lp.defer(service="db-agent", action="sql", payload={"query": "DROP TABLE users"})
    assert lp.get_request_status(request_id)["status"] == "PENDING"
    server.approve(request_id, payload={"query": "SELECT 1"})
    d = lp.wait(request_id, timeout=60)
    assert d["status"] == "APPROVED_WITH_MODIFICATIONS"
    assert d["patched_payload"] == {"query": "SELECT 1"}
    assert d["diff_summary"]["changes"]["query"] == {"from": "DROP TABLE users", "to": "SELECT 1"}
    status = lp.get_request_status(request_id)
    assert status["actor_id"] == status["metadata"]["actor_id"]
    assert status["resolved_at"] == status["metadata"]["resolved_at"]


def test_rejection_reason_reaches_the_agent(server, lp):
    request_id = lp.defer(service="mail-agent", action="send", payload={"to": "all@corp"})
    server.reject(request_id, "too many recipients")
    with pytest.raises(ApprovalRejectedError) as e:
        lp.wait(request_id, timeout=60)
    assert e.value.reason == "too many recipients"


def test_encrypted_payload_is_stored_sealed_and_opened_by_the_client(server):
    import base64
    import os

    key = base64.b64encode(os.urandom(32)).decode()
    lp = LetsPing(api_key=server.agent_key, base_url=server.url + "/compat/letsping/api/", encryption_key=key)
    # A marker with characters base64 never holds, so it cannot turn up in the ciphertext by chance.
    secret = "s3 cr3t-" + os.urandom(8).hex()
    request_id = lp.defer(service="vault-agent", action="read", payload={"secret": secret})
    stored = server.operator("GET", f"/v1/requests/{request_id}")
    assert stored["payload"]["_lp_enc"] is True and secret not in json.dumps(stored)
    server.approve(request_id)
    assert lp.wait(request_id, timeout=60)["payload"] == {"secret": secret}
    lp.close()


def test_webhook_with_state_snapshot_verifies_with_their_handler(server):
    import base64
    import os

    # The README's Cryo-Sleep path: the snapshot is sealed with LETSPING_ENCRYPTION_KEY.
    key = base64.b64encode(os.urandom(32)).decode()
    lp = LetsPing(api_key=server.agent_key, base_url=server.url + "/compat/letsping/api/", encryption_key=key)
    received = queue.Queue()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            received.put((body, self.headers.get("x-letsping-signature", "")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        server.operator("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{httpd.server_port}/hook"})
        request_id = lp.defer(
            service="graph-agent", action="merge_pr", payload={"pr": 42},
            state_snapshot={"thread_id": "t-1", "input": {"step": 3}},
        )
        server.approve(request_id)
        secret = server.secrets()["letsping_webhook_secret"]
        while True:
            body, signature = received.get(timeout=30)
            event = lp.webhook_handler(payload_str=body, signature_header=signature, webhook_secret=secret)
            if event["id"] == request_id and event["data"]["status"] == "APPROVED":
                break
        assert event["state_snapshot"] == {"thread_id": "t-1", "input": {"step": 3}}
        with pytest.raises(Exception):
            lp.webhook_handler(payload_str=body, signature_header=signature, webhook_secret="lp_whk_wrong")
    finally:
        httpd.shutdown()
        lp.close()


def test_wrong_key_is_an_authentication_error(server):
    from letsping import AuthenticationError

    lp = LetsPing(api_key="hr_agent_nope", base_url=server.url + "/compat/letsping/api/")
    with pytest.raises(AuthenticationError):
        lp.defer(service="x", action="y", payload={})
    lp.close()

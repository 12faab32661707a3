"""LetsPing's `callback_url` (`defer(..., callback_url=...)`): the decision is delivered to the
URL the agent named, in their webhook shape, signed `x-letsping-signature` with the agent key's
own callback secret (never the project's LetsPing webhook secret, which operator endpoints
trust), through the server's durable delivery queue."""

import json

import pytest
from letsping import LetsPingError

from _receiver import Receiver, until


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def settled(server, request_id, count=1):
    """The request's deliveries once `count` exist and none is pending any more (the log is
    written after the receiver answered, so by then the receiver has everything)."""

    def check():
        d = server.operator("GET", f"/v1/requests/{request_id}/deliveries")["deliveries"]
        return d if len(d) >= count and all(x["state"] != "pending" for x in d) else None

    return until("the deliveries settled", check)


def test_approval_is_delivered_once_and_their_handler_accepts_it(server, lp, receiver):
    request_id = lp.defer(
        service="billing-agent", action="refund", payload={"amount": 30},
        callback_url=receiver.url + "/lp/callback?run=7",
    )
    server.approve(request_id)
    (delivery,) = settled(server, request_id)
    assert delivery["target"] == "callback" and delivery["webhook"] is None
    assert delivery["event"] == "request.resolved"
    assert delivery["state"] == "delivered" and delivery["attempts"] == 1
    (got,) = receiver.all()
    path, headers, body = got
    assert path == "/lp/callback?run=7"
    assert headers["webhook-id"] == delivery["id"]
    assert "webhook-signature" not in headers  # no endpoint secret: LetsPing's signature only
    secret = server.callback_secret()
    assert secret.startswith("lp_cbk_") and secret != server.secrets()["letsping_webhook_secret"]
    event = lp.webhook_handler(payload_str=body, signature_header=headers["x-letsping-signature"],
                               webhook_secret=secret)
    assert event["id"] == request_id and event["event"] == "request.resolved"
    assert event["data"]["status"] == "APPROVED"
    assert event["data"]["payload"] == {"amount": 30}
    assert event["data"]["metadata"]["callback_url"] == receiver.url + "/lp/callback?run=7"
    with pytest.raises(LetsPingError):
        lp.webhook_handler(payload_str=body, signature_header=headers["x-letsping-signature"],
                           webhook_secret="lp_whk_wrong")


def test_rejection_carries_the_reason(server, lp, receiver):
    request_id = lp.defer(service="mail-agent", action="send", payload={"to": "all@corp"},
                          callback_url=receiver.url + "/cb")
    server.reject(request_id, "too many recipients")
    settled(server, request_id)
    ((_, headers, body),) = receiver.all()
    event = lp.webhook_handler(payload_str=body, signature_header=headers["x-letsping-signature"],
                               webhook_secret=server.callback_secret())
    assert event["data"]["status"] == "REJECTED"
    assert event["data"]["metadata"]["reason"] == "too many recipients"


def test_a_failed_attempt_is_retried_until_delivered(server, lp):
    receiver = Receiver(statuses=[500])
    try:
        request_id = lp.defer(service="retry-agent", action="run", payload={},
                              callback_url=receiver.url + "/cb")
        server.approve(request_id)
        (delivery,) = settled(server, request_id)
        assert delivery["state"] == "delivered" and delivery["attempts"] == 2
        assert delivery["last_outcome"] == "HTTP 204"
        got = receiver.all()
        assert len(got) == 2  # the refused attempt and the delivered one
        secret = server.callback_secret()
        for _, headers, body in got:
            event = lp.webhook_handler(payload_str=body, signature_header=headers["x-letsping-signature"],
                                       webhook_secret=secret)
            assert event["id"] == request_id
        assert got[0][1]["webhook-id"] == got[1][1]["webhook-id"]  # one message, two attempts
    finally:
        receiver.close()


def test_expiry_is_delivered_as_rejected(server, lp, receiver):
    # Their client cannot shorten the deadline; a request with the same context made through
    # our own API (deadline 0) stands in for one that reached its deadline.
    import urllib.request

    body = json.dumps({
        "service": "slow-agent", "action": "wait", "payload": {}, "timeout_secs": 0,
        "context": {"compat": "letsping", "metadata": {"callback_url": receiver.url + "/cb"}},
    }).encode()
    req = urllib.request.Request(server.url + "/v1/requests", data=body, method="POST")
    req.add_header("Authorization", f"Bearer {server.agent_key}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as r:
        request_id = json.loads(r.read())["id"]
    (delivery,) = settled(server, request_id)
    assert delivery["event"] == "request.expired"
    ((_, headers, text),) = receiver.all()
    event = lp.webhook_handler(payload_str=text, signature_header=headers["x-letsping-signature"],
                               webhook_secret=server.callback_secret())
    assert event["data"]["status"] == "REJECTED"
    assert event["data"]["metadata"]["handrail_status"] == "EXPIRED"


@pytest.mark.parametrize("url", [
    "ftp://127.0.0.1/cb",
    "http://user:secret@127.0.0.1/cb",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/cb",
    "not a url",
    "http://example.com/" + "a" * 2048,
])
def test_a_bad_callback_url_is_refused_with_their_error(server, lp, url):
    with pytest.raises(LetsPingError) as e:
        lp.defer(service="bad-callback-agent", action="run", payload={}, callback_url=url)
    assert e.value.status == 400
    assert e.value.code == "LETSPING_CALLBACK_URL_INVALID"
    pending = server.operator("GET", "/v1/requests?status=PENDING")["requests"]
    assert not [r for r in pending if r["service"] == "bad-callback-agent"]


def test_without_callback_nothing_is_queued(server, lp):
    request_id = lp.defer(service="plain-agent", action="run", payload={})
    server.approve(request_id)
    assert server.operator("GET", f"/v1/requests/{request_id}/deliveries")["deliveries"] == []


def test_an_agent_cannot_forge_what_operator_endpoints_trust(server, lp, receiver):
    """The agent's callback receiver holds the agent key's callback secret. A LetsPing-signed
    "APPROVED" event the agent forges with it is refused by an operator endpoint, which checks
    the project's LetsPing webhook secret, an operator-only secret the agent cannot read."""
    import urllib.error

    agent_secret = server.callback_secret()
    forged = json.dumps({"id": "req_forged", "event": "request.resolved", "type": "request.resolved",
                         "data": {"id": "req_forged", "status": "APPROVED", "payload": {"amount": 10_000}}})
    import hashlib, hmac, time
    mac = hmac.new(agent_secret.encode(), forged.encode(), hashlib.sha256).hexdigest()
    header = f"t={int(time.time() * 1000)},v1={mac}"
    # What the agent's own receiver accepts ...
    assert lp.webhook_handler(payload_str=forged, signature_header=header, webhook_secret=agent_secret)
    # ... an operator endpoint refuses.
    with pytest.raises(LetsPingError):
        lp.webhook_handler(payload_str=forged, signature_header=header,
                           webhook_secret=server.secrets()["letsping_webhook_secret"])
    # And the agent key cannot read the operator's secrets.
    with pytest.raises(urllib.error.HTTPError) as refused:
        server.agent("GET", "/compat/secrets")
    assert refused.value.code == 403

    # Real deliveries follow the same split: the operator endpoint's copy verifies with the
    # project secret only, the callback's with the agent's secret only.
    hook = Receiver()
    try:
        server.operator("POST", "/v1/webhooks", {"url": hook.url + "/op"})
        request_id = lp.defer(service="split-agent", action="pay", payload={"amount": 3},
                              callback_url=receiver.url + "/cb")
        server.approve(request_id)
        settled(server, request_id, count=2)
        ((_, cb_headers, cb_body),) = receiver.all()
        op = [(h, b) for _, h, b in hook.all() if json.loads(b)["data"]["id"] == request_id
              and json.loads(b)["event"] == "request.resolved"]
        (op_headers, op_body), = op
        project_secret = server.secrets()["letsping_webhook_secret"]
        assert lp.webhook_handler(payload_str=op_body, signature_header=op_headers["x-letsping-signature"],
                                  webhook_secret=project_secret)
        with pytest.raises(LetsPingError):
            lp.webhook_handler(payload_str=op_body, signature_header=op_headers["x-letsping-signature"],
                               webhook_secret=agent_secret)
        assert lp.webhook_handler(payload_str=cb_body, signature_header=cb_headers["x-letsping-signature"],
                                  webhook_secret=agent_secret)
        with pytest.raises(LetsPingError):
            lp.webhook_handler(payload_str=cb_body, signature_header=cb_headers["x-letsping-signature"],
                               webhook_secret=project_secret)
    finally:
        hook.close()

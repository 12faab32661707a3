"""LoopPause's `recipients`, sent by their published client: they choose among the channels the
operator configured (a real SMTP server, aiosmtpd, and a stand-in of Slack's Web API, both on
127.0.0.1), never add an address. A matched e-mail addressee gets mail and the matched Slack
channel the post; the other addressees and channels, and any address the agent made up, get
nothing; recipients that match nothing are listed for the operator and the pause is announced
as without recipients.
"""

import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from looppause_client import LoopPauseClient

from _lp_server import Server


class Mailbox:
    """What the SMTP server accepted: (recipient, subject) per message, in order."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.got.append((rcpt, str(message["subject"])))
        return "250 OK"


class SlackApi(BaseHTTPRequestHandler):
    """`chat.postMessage` as Slack answers it; every call recorded in `calls`."""

    calls = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        SlackApi.calls.append((self.path, body))
        answer = json.dumps({"ok": True, "channel": body.get("channel"), "ts": f"1700000000.{len(SlackApi.calls):06}"})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def setup():
    mailbox = Mailbox()
    with socket.socket() as s:  # a free port: aiosmtpd's start connects to the one it is given
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    slack = ThreadingHTTPServer(("127.0.0.1", 0), SlackApi)
    threading.Thread(target=slack.serve_forever, daemon=True).start()
    server = Server(env={
        "HANDRAIL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "HANDRAIL_SMTP_FROM": "handrail@example.com",
        "HANDRAIL_PUBLIC_URL": "http://handrail.test",
        "HANDRAIL_SLACK_BOT_TOKEN": "xoxb-test",
        "HANDRAIL_SLACK_SIGNING_SECRET": "signing-secret",
        "HANDRAIL_SLACK_API_URL": f"http://127.0.0.1:{slack.server_address[1]}/api",
    })
    server.operator("POST", "/v1/channels", {"kind": "email", "to": ["alice@acme.eu", "bob@acme.eu"]})
    for channel, user in [("C0FINANCE1", "U0ALICE001"), ("C0OTHERS01", "U0BOB00001")]:
        server.operator("POST", "/v1/channels", {
            "kind": "slack", "channel": channel, "members": [{"slack_user": user, "name": user}]})
    client = LoopPauseClient(
        api_key=server.agent_key,
        signing_secret=server.secrets()["looppause_signing_secret"],
        base_url=server.url + "/compat/looppause",
    )
    yield server, client, mailbox
    server.stop()
    slack.shutdown()
    smtp.stop()


def wait_until(check, what):
    until = time.monotonic() + 30
    while not check():
        assert time.monotonic() < until, what
        time.sleep(0.05)


def pause(client, agent, recipients):
    return client.create_pause(
        agent_id=agent, action={"type": "payment", "description": "Pay Acme Corp $12,450"},
        recipients=recipients, idempotency_key=f"idem_{agent}",
    )


def test_recipients_choose_among_the_configured_channels_and_add_no_one(setup):
    server, client, mailbox = setup
    chosen = pause(client, "chosen-agent", [
        {"channel": "email", "target": "Alice@Acme.eu"},
        {"channel": "slack", "target": "C0FINANCE1"},
        {"channel": "email", "target": "attacker@evil.example"},
        {"channel": "slack", "target": "#finance-approvals"},
    ])
    # None of these matches a channel: announced as without recipients, to everyone.
    unmatched = pause(client, "unmatched-agent", [{"channel": "email", "target": "attacker@evil.example"}])
    # The outbox is drained oldest first: once the second pause reached everyone, the first
    # was done too.
    wait_until(lambda: sum("unmatched-agent" in s for _, s in mailbox.got) == 2, "the second pause's mail")
    posts = lambda agent: sorted(b["channel"] for p, b in SlackApi.calls if agent in json.dumps(b))
    wait_until(lambda: posts("unmatched-agent") == ["C0FINANCE1", "C0OTHERS01"], "the second pause's posts")

    assert [r for r, s in mailbox.got if "chosen-agent" in s] == ["alice@acme.eu"]
    assert posts("chosen-agent") == ["C0FINANCE1"]
    assert sorted(r for r, s in mailbox.got if "unmatched-agent" in s) == ["alice@acme.eu", "bob@acme.eu"]
    assert all(r != "attacker@evil.example" for r, _ in mailbox.got)

    row = server.operator("GET", f"/v1/requests/{chosen}")
    assert row["context"]["recipients_unmatched"] == [
        {"channel": "email", "target": "attacker@evil.example"},
        {"channel": "slack", "target": "#finance-approvals"},
    ]
    row = server.operator("GET", f"/v1/requests/{unmatched}")
    assert row["context"]["recipients_unmatched"] == [{"channel": "email", "target": "attacker@evil.example"}]


@pytest.mark.parametrize("recipients", [
    "alice@acme.eu",
    [{"channel": "email"}],
    [{"channel": "email", "target": ""}],
    [{"channel": "email", "target": "a@acme.eu", "decider": True}],
    [{"channel": "email", "target": "a@acme.eu"}] * 17,
])
def test_malformed_recipients_are_refused(setup, recipients):
    server, _, _ = setup
    req = server.call
    with pytest.raises(Exception) as refused:
        req(server.agent_key, "POST", "/compat/looppause/v1/pauses",
            {"agent_id": "a", "action": {"type": "payment"}, "recipients": recipients})
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["code"] == "invalid_request"

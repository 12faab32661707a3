"""Starts a real `handrail serve` for the LetsPing and LoopPause compat tests."""

import itertools
import json
import os
import subprocess
import tempfile
import urllib.request

_databases = itertools.count()


def _database():
    """With ``HANDRAIL_TEST_POSTGRES`` (an admin URL), a fresh database on that server, for
    ``--database``: the compat flows then run on PostgreSQL. None: SQLite."""
    admin = os.environ.get("HANDRAIL_TEST_POSTGRES")
    if not admin:
        return None
    name = f"compat_{os.getpid()}_{next(_databases)}"
    subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"], check=True)
    return admin.rsplit("/", 1)[0] + "/" + name


class Server:
    """A running server: its URL, bootstrap keys, and a small operator client."""

    def __init__(self, env=None):
        """``env``: more of the server's environment (an SMTP relay, a Slack app)."""
        self._dir = tempfile.TemporaryDirectory()
        # Callback receivers listen on 127.0.0.1, which the default (`public`) refuses.
        env = dict(os.environ, HANDRAIL_WEBHOOK_RETRY_MS="100", HANDRAIL_OUTBOUND_NETWORKS="private", **(env or {}))
        database = _database()
        self.proc = subprocess.Popen(
            [os.environ["HANDRAIL_BIN"], "serve", "--addr", "127.0.0.1:0", "--data", self._dir.name]
            + (["--database", database] if database else []),
            stdout=subprocess.PIPE, text=True, env=env,
        )
        for line in self.proc.stdout:
            if line.startswith("listening on "):
                self.url = line.split("listening on ", 1)[1].strip()
                break
        with open(os.path.join(self._dir.name, "bootstrap.json")) as f:
            boot = json.load(f)
        self.agent_key = boot["agent_key"]
        self.operator_token = boot["operator_token"]

    def operator(self, method, path, body=None):
        return self.call(self.operator_token, method, path, body)

    def agent(self, method, path, body=None):
        return self.call(self.agent_key, method, path, body)

    def call(self, token, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def approve(self, request_id, payload=None):
        body = {"decision": "approve"}
        if payload is not None:
            body["payload"] = payload
        return self.operator("POST", f"/v1/requests/{request_id}/resolve", body)

    def reject(self, request_id, reason):
        return self.operator("POST", f"/v1/requests/{request_id}/resolve", {"decision": "reject", "reason": reason})

    def secrets(self):
        return self.operator("GET", "/compat/secrets")

    def callback_secret(self):
        """The agent key's own secret for its `callback_url` receiver (never the project's
        LetsPing webhook secret, which signs what operator endpoints trust)."""
        return self.agent("GET", "/compat/letsping/api/callback-secret")["callback_secret"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self._dir.cleanup()

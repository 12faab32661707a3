"""A real ``handrail serve`` for the client tests: the binary named by ``HANDRAIL_BIN``
(default ``target/debug/handrail``; ``scripts/test-py.sh`` builds it), on 127.0.0.1 port 0,
with a temporary data directory. Decisions are made through the operator API, as the
dashboard makes them."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    agent_key: str
    operator_token: str

    def operator(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> httpx.Response:
        return httpx.request(
            method,
            self.url + path,
            headers={"authorization": f"Bearer {self.operator_token}"},
            json=body,
            timeout=30,
        )

    def resolve(self, request_id: str, **body: Any) -> Dict[str, Any]:
        r = self.operator("POST", f"/v1/requests/{request_id}/resolve", body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def resolve_when_pending(self, **body: Any) -> threading.Thread:
        """Decides the next pending request from another thread, as a person would."""

        def run() -> None:
            while True:
                r = self.operator("GET", "/v1/requests?status=PENDING")
                pending = r.json()["requests"]
                if pending:
                    self.resolve(pending[0]["id"], **body)
                    return
                threading.Event().wait(0.02)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


class Deliveries:
    """A webhook endpoint on 127.0.0.1 that keeps every delivery (body, headers)."""

    def __init__(self) -> None:
        import http.server

        self.items: List[Tuple[bytes, List[Tuple[str, str]]]] = []
        self.arrived = threading.Condition()
        outer = self

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["content-length"]))
                with outer.arrived:
                    outer.items.append((body, list(self.headers.items())))
                    outer.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_port}/hook"

    def wait(self, kind: str, request_id: str) -> Tuple[bytes, List[Tuple[str, str]]]:
        def found() -> Optional[Tuple[bytes, List[Tuple[str, str]]]]:
            for body, headers in self.items:
                event = json.loads(body)
                if event["type"] == kind and event["data"]["id"] == request_id:
                    return body, headers
            return None

        with self.arrived:
            assert self.arrived.wait_for(found, timeout=60), f"no {kind} delivery for {request_id}"
            hit = found()
        assert hit is not None
        return hit


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    binary = os.environ.get("HANDRAIL_BIN", str(ROOT / "target" / "debug" / "handrail"))
    if not Path(binary).exists():
        pytest.fail(f"no server binary at {binary}: run `cargo build -p handrail-server` or set HANDRAIL_BIN")
    data = tmp_path_factory.mktemp("handrail-data")
    # Webhook receivers in the tests listen on 127.0.0.1, which the default (`public`) refuses.
    env = dict(os.environ, HANDRAIL_RATE_LIMIT="100000", HANDRAIL_OUTBOUND_NETWORKS="private")
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data", str(data)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        if line.startswith("listening on "):
            url = line[len("listening on ") :].strip()
            break
    assert url, "the server printed no address"
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    boot = json.loads((data / "bootstrap.json").read_text())
    try:
        yield Server(url=url, agent_key=boot["agent_key"], operator_token=boot["operator_token"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def clean(server: Server) -> Server:
    """The server with no request left pending by an earlier test (they would be decided
    by the next test's resolver thread)."""
    for row in server.operator("GET", "/v1/requests?status=PENDING").json()["requests"]:
        server.operator("POST", f"/v1/requests/{row['id']}/resolve", {"decision": "reject", "reason": "cleanup"})
    return server

"""A small HTTP receiver on 127.0.0.1 for the deliveries a test expects."""

import http.server
import queue
import threading
import time


class Receiver:
    """Collects every POST as (path, headers, body text); answers `statuses` in turn, then 204."""

    def __init__(self, statuses=()):
        self.received = queue.Queue()
        self._statuses = list(statuses)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                outer.received.put((self.path, dict(self.headers), body))
                status = outer._statuses.pop(0) if outer._statuses else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"

    def all(self):
        """Everything received so far."""
        out = []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()


def until(what, check, limit=30.0):
    """Polls `check()` until it returns something truthy; fails the test after `limit` seconds
    (a bound against hanging, not a timing assertion)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")

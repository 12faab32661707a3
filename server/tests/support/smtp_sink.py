"""A real SMTP server for the e-mail tests (aiosmtpd): listens on 127.0.0.1:PORT and writes
each message it accepts to DIR as N.json: the envelope, the raw message, and what Python's
`email` package parses of it (headers, each MIME part's type and decoded text).

    python smtp_sink.py PORT DIR
"""

import asyncio
import email
import email.policy
import json
import os
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                parts.append({"type": part.get_content_type(), "multipart": True})
            else:
                parts.append({"type": part.get_content_type(), "text": part.get_content()})
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "from": str(message["from"]),
            "to": str(message["to"]),
            "content_type": message.get_content_type(),
            "parts": parts,
            "defects": [str(d) for d in message.defects],
            "raw": raw.decode("utf-8", "replace"),
        }
        path = os.path.join(self.folder, f"{time.time_ns()}-{self.count}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        # Until the test closes our stdin (or kills us).
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()

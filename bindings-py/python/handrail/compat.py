"""The forms of the services Handrail replaces, for users migrating from them; not part of
Handrail's own protocol, and weaker than it.

- :func:`verify_letsping` checks LetsPing's ``x-letsping-signature`` header
  (``t=<unix ms>,v1=<hex HMAC-SHA256(secret, body)>``). The MAC covers the body only, not the
  timestamp, so a captured delivery can be replayed with a fresh ``t``: deduplicate by the
  event id inside the body, and prefer :class:`handrail.Webhook` (Standard Webhooks) where
  you control the sender. Returns the header's ``t``; raises :class:`handrail.WebhookError`.
"""

from handrail._core import verify_letsping

__all__ = ["verify_letsping"]

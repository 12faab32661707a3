"""Handrail: human-approval rails for AI agents, backed by a Rust core.

The functions here are implemented in Rust (``handrail._core``) and re-exported unchanged;
import them from ``handrail``, not from ``handrail._core``.

Every error Handrail raises for bad input is a :class:`HandrailError`, a ``ValueError``
whose ``code`` attribute is a stable machine-readable string.
"""

from handrail._core import HandrailError, __version__, canonicalize

__all__ = ["HandrailError", "__version__", "canonicalize"]

"""Native core of the ``handrail`` package; import from ``handrail`` instead."""

__all__ = ["__version__", "HandrailError", "canonicalize"]

__version__: str

class HandrailError(ValueError):
    """Raised when Handrail rejects its input.

    ``code`` is a stable, machine-readable ``snake_case`` string such as ``"json_syntax"``
    or ``"duplicate_key"``; compare against it rather than against the message.
    """

    code: str

def canonicalize(data: str | bytes) -> str:
    """Return the canonical form (RFC 8785, JSON Canonicalization Scheme) of JSON text.

    Raises ``HandrailError`` when the input is not strict I-JSON (RFC 7493).
    """

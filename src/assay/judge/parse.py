"""Verdict schemas for constrained output, and a tolerant parser for the rest.

Each protocol's grammar lives in its module under ``assay.judge.protocols``
and the rules they share (JSON first, explicit markers before prose, invalid
rather than guessed) in ``assay.judge.protocols.reading``; these two
functions find the protocol by name and ask it.
"""

from __future__ import annotations

from typing import Any

from assay.errors import ConfigError
from assay.judge.protocols import get_protocol
from assay.judge.protocols.reading import EXPLANATION_MAX_CHARS, Parsed

__all__ = ["EXPLANATION_MAX_CHARS", "Parsed", "parse_reply", "verdict_schema"]


def verdict_schema(protocol: str, scale: int = 10) -> dict[str, Any]:
    """The JSON schema a judge's reply must follow (explanation first)."""
    try:
        record = get_protocol(protocol)
    except ConfigError:
        raise ValueError(f"no schema for protocol {protocol!r}") from None
    return record.verdict_schema(scale)


def parse_reply(text: str | None, protocol: str, scale: int = 10, finish_reason: str | None = None) -> Parsed:
    """Read a judge's reply for ``protocol``; see ``assay.judge.protocols.reading``.

    ``finish_reason`` is the backend's (``"length"`` means the reply was cut
    off by the token limit); ``None`` when unknown.
    """
    try:
        record = get_protocol(protocol)
    except ConfigError:
        raise ValueError(f"no parser for protocol {protocol!r}") from None
    return record.parse(text, scale, finish_reason)

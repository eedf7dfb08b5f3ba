"""Judge protocols: one module per protocol, each a ``Protocol`` record, and the registry of them.

The built-in protocols are ``pointwise`` (a rating), ``pairwise`` (which of
two outputs is better), ``reference`` (correct against the gold answer) and
the lexical ``contains`` and ``exact`` (no judge model). ``get_protocol``
finds one by name; ``register`` adds another (see docs/judge-protocols.md).
"""

from __future__ import annotations

from assay.errors import ConfigError
from assay.judge.protocols.base import (
    KINDS,
    ORIGINAL,
    POOLS,
    SWAPPED,
    LexicalVerdict,
    Protocol,
    VerdictKind,
    verdict_kind,
)
from assay.judge.protocols.lexical import CONTAINS, EXACT
from assay.judge.protocols.pairwise import PAIRWISE
from assay.judge.protocols.pointwise import POINTWISE
from assay.judge.protocols.reference import REFERENCE

__all__ = [
    "KINDS",
    "ORIGINAL",
    "POOLS",
    "SWAPPED",
    "LexicalVerdict",
    "Protocol",
    "VerdictKind",
    "get_protocol",
    "protocol_names",
    "protocols",
    "register",
    "unregister",
    "verdict_kind",
]

_REGISTRY: dict[str, Protocol] = {}


def register(protocol: Protocol) -> Protocol:
    """Make ``protocol`` available by its name (``--protocol NAME``); returns it."""
    existing = _REGISTRY.get(protocol.name)
    if existing is not None and existing != protocol:
        raise ValueError(f"a different protocol named {protocol.name!r} is registered already")
    _REGISTRY[protocol.name] = protocol
    return protocol


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get_protocol(protocol: str | Protocol) -> Protocol:
    """The record of a protocol by name (a record is returned as it is)."""
    if isinstance(protocol, Protocol):
        return protocol
    try:
        return _REGISTRY[protocol]
    except KeyError:
        raise ConfigError(f"--protocol {protocol}: valid are {', '.join(_REGISTRY)}") from None


def protocols() -> list[Protocol]:
    return list(_REGISTRY.values())


def protocol_names() -> list[str]:
    return list(_REGISTRY)


for _builtin in (POINTWISE, PAIRWISE, REFERENCE, CONTAINS, EXACT):
    register(_builtin)

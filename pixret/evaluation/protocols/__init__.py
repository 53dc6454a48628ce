"""The scoring protocols, one module each behind one interface (``base.Protocol``), looked up
by name: ``compat`` (the release's scripts, quirks included) and ``strict`` (corrected).
docs/protocols.md lists every difference."""

from __future__ import annotations

from .base import KAPPAS, THRESHOLDS, Protocol, ProtocolResult
from .compat import Compat, CompatPair, PairOutcome
from .strict import Strict

REGISTRY: dict[str, Protocol] = {p.name: p for p in (Compat(), Strict())}
NAMES = tuple(REGISTRY)  # ("compat", "strict")


def get(name: str) -> Protocol:
    """The protocol called ``name``; ValueError naming the valid ones for any other."""
    if name not in REGISTRY:
        raise ValueError(f"unknown protocol {name!r}; choose from {', '.join(NAMES)}")
    return REGISTRY[name]


__all__ = ["KAPPAS", "NAMES", "REGISTRY", "THRESHOLDS", "Compat", "CompatPair", "PairOutcome", "Protocol",
           "ProtocolResult", "Strict", "get"]  # fmt: skip

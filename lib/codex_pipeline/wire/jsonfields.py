"""Typed reads from untrusted JSON (webhook payloads, Discord interactions) that never raise.

A payload is whatever the sender sent: a missing key, a wrong type or a null all read as the
empty value, so the code that decides can be a plain chain of reads and stay impossible to crash.
"""

from __future__ import annotations

from typing import Any


def obj(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when ``value`` is an object and that is an object, else ``{}``."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def text(value: Any, key: str) -> str:
    """``value[key]`` when ``value`` is an object and that is a string, else ``""``."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""

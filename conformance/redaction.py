"""Secrets out of everything written, and peer bytes made harmless for terminals and XML.

A server or client may echo the API key anywhere: in a JSON string (possibly ``\\u``-escaped, so a
plain ``replace`` cannot see it), a header, a close reason, a URL (percent-encoded). :class:`Redactor`
finds a secret in any of those spellings. The values to hide are registered once per process with
:func:`hide` (the CLI, the pytest plugin and the load users do it when they read a key), so every
writer — console, JSON, JUnit, traces, locust's reports — can apply the same last line of defence
without being handed the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

__all__ = ["MASK", "Redactor", "hide", "redact", "redact_tree", "printable", "xml_safe"]

MASK = "***"
_hidden: set[str] = set()
_process: Redactor | None = None


def _char_pattern(char: str) -> str:
    """A character as JSON may escape it, a URL may percent-encode it, or as itself."""
    code = ord(char)
    forms = [re.escape(char), rf"\\u(?i:{code:04x})"] if code < 0x10000 else [re.escape(char)]
    if code < 0x80:
        forms.append(rf"%(?i:{code:02x})")
    if char == "/":
        forms.append(r"\\/")
    if char == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


@lru_cache(maxsize=64)
def _escaped_pattern(secrets: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join("".join(map(_char_pattern, s)) for s in secrets))


class Redactor:
    """Replaces each of ``secrets`` (in any spelling above) with ``***``.

    Cheap on the hot path (every text frame of a load test): plain replaces, and the escaped-form
    pattern is built and run only for text that holds an escape at all."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        if not self.secrets:
            return text
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        if "\\" in text or "%" in text or "+" in text:
            text = _escaped_pattern(self.secrets).sub(MASK, text)
        return text


def hide(*secrets: str | None) -> None:
    """Register values that must never be written by this process (empty values are ignored)."""
    global _process
    new = {s for s in secrets if s} - _hidden
    if new:
        _hidden.update(new)
        _process = Redactor(_hidden)


def redact(text: str) -> str:
    """``text`` without any value registered with :func:`hide`."""
    return _process(text) if _process is not None else text


def redact_tree(value: Any) -> Any:
    """A JSON-ready structure with every string (keys too) redacted."""
    if _process is None:
        return value
    if isinstance(value, str):
        return _process(value)
    if isinstance(value, dict):
        return {redact_tree(k): redact_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_tree(v) for v in value]
    return value


# C0 controls, DEL and C1 controls: ESC, OSC and CSI sequences rewrite or fake a terminal screen.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# XML 1.0 forbids most C0 controls even as character references, and lone surrogates.
_NOT_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def printable(text: str) -> str:
    """One line safe for a terminal: secrets redacted, every control character shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", redact(text))


def xml_safe(text: str) -> str:
    """Text an XML 1.0 file can hold: secrets redacted, forbidden characters shown as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", redact(text))

"""The rules catalog (``rules.yaml``): id, level, statement and source of every rule we judge."""

from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from conformance._resources import data_path
from conformance.errors import SchemaLoadError

__all__ = ["Level", "Rule", "Catalog", "load_catalog"]


class Level(enum.Enum):
    """How binding a rule is; decides the verdict when it breaks."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


@dataclass(frozen=True)
class Rule:
    """One catalog entry."""

    id: str
    level: Level
    statement: str
    source: str
    side: str
    needs: tuple[str, ...] = ()
    # The verdict reads wall-clock times: "reply" (which client frame a server frame or close
    # answers) or "idle" (the gaps between the client's frames, as a server's idle timer sees
    # them); not judged where the suite itself ran late enough to decide it (checks.harness).
    timed: str | None = None


class Catalog:
    """Rules by id, in catalog order."""

    def __init__(self, rules: list[Rule]) -> None:
        self._rules = {rule.id: rule for rule in rules}

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __iter__(self):
        return iter(self._rules.values())

    def suggest(self, rule_id: str) -> str:
        """A "did you mean" hint for an unknown rule id, or an empty string."""
        close = difflib.get_close_matches(rule_id, self._rules, n=1)
        return f" Did you mean {close[0]!r}?" if close else ""


@cache
def load_catalog(path: Path | None = None) -> Catalog:
    """Load the catalog shipped with the package (or ``path``).

    Raises:
        SchemaLoadError: the file is missing or an entry lacks a field.
    """
    path = path or data_path("rules.yaml")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))["rules"]
        rules = [
            Rule(
                e["id"],
                Level(e["level"]),
                e["statement"],
                e["source"],
                e["side"],
                tuple(e.get("needs", ())),
                e.get("timed"),
            )
            for e in entries
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SchemaLoadError(f"{path}: unusable rules catalog: {exc}") from exc
    known = {rule.id for rule in rules}
    odd = [rule.id for rule in rules if rule.timed not in (None, "reply", "idle")]
    if odd:
        raise SchemaLoadError(f"{path}: timed is 'reply' or 'idle', not {odd}")
    for rule in rules:
        unknown = [n for n in rule.needs if n not in known]
        if unknown:
            raise SchemaLoadError(f"{path}: rule {rule.id} needs unknown rule(s) {', '.join(unknown)}")
    return Catalog(rules)

"""Checks on how the server ended the stream: each close judged once, under the rule it answers
(see :mod:`conformance.checks.ending`), and the form of the idle close."""

from __future__ import annotations

import re

from conformance.checks import NOT_APPLICABLE, CheckContext, check
from conformance.checks.ending import CLIENT, IDLE, OPEN, REPLY, UNPROVOKED, Ending, ending, reply_window
from conformance.checks.facts import unreadable_since
from conformance.checks.violations import NotJudged, RuleViolation
from conformance.engine.trace import Trace
from conformance.scenario.model import Scenario

__all__ = ["no_early_close", "idle_close_names_net0001", "metadata_before_idle_close"]

_NET_0001 = re.compile(r"NET-0001|dpgr\.am/net0001", re.IGNORECASE)
# What a close answering each kind of client frame breaks, in the words of the rule.
_BREACH = {
    "TO-3": "an active stream must not be closed before the idle timeout ({idle:.3f}s)",
    "ERR-1": "malformed or unknown control text must not end the stream (a SchemaError reply is allowed)",
    "KA-2": "KeepAlive must keep the stream open",
    "KA-3": "KeepAlive before any audio did not keep the stream open",
    "CFG-1": "Configure must not end the stream",
    "HS-1": "the server accepted the upgrade, then refused the stream at once",
}


def _ending(trace: Trace, scenario: Scenario) -> Ending:
    return ending(trace, scenario.feature, scenario.rules)


def _blame(rule_id: str):
    """A check that raises ``rule_id`` when the stream's ending belongs to it."""

    def judge_ending(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
        end = _ending(trace, scenario)
        if end.kind not in (REPLY, UNPROVOKED) or end.rule != rule_id:
            return NOT_APPLICABLE
        idle = trace.timing.idle_timeout * trace.timing.scale
        raise RuleViolation(rule_id, f"{end.describe()}: {_BREACH[rule_id].format(idle=idle)}")

    judge_ending.__name__ = judge_ending.__qualname__ = f"ending_breaks_{rule_id.replace('-', '_').lower()}"
    judge_ending.__doc__ = f"{rule_id}: the server ended the stream in answer to what this rule protects."
    return judge_ending


for _rule in ("ERR-1", "KA-2", "KA-3", "CFG-1", "HS-1"):
    check(_rule)(_blame(_rule))


@check("TO-3")
def no_early_close(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """TO-3 (MUST): no close that nothing the client did explains; an idle close that waited for
    (90 % of) the timeout shows the rule held."""
    end = _ending(trace, scenario)
    if end.kind == IDLE:
        return None
    if end.kind in (OPEN, CLIENT) and "TO-3" in scenario.rules and trace.handshake.status == 101:
        raise NotJudged("TO-3", f"the server never closed the stream ({end.describe()}), early or not")
    return _blame("TO-3")(ctx, trace, scenario)


def _idle_close(trace: Trace, scenario: Scenario, rule_id: str) -> Ending | None:
    """The server's close after the client fell silent (on time, or early: TO-3's), or None;
    NOT JUDGED when the scenario is about it and none came."""
    end = _ending(trace, scenario)
    if end.kind == IDLE or (end.kind == UNPROVOKED and end.rule == "TO-3" and end.gap > reply_window(trace)):
        return end
    if rule_id in scenario.rules and trace.handshake.status == 101:
        raise NotJudged(rule_id, f"the server did not close the stream after the client fell silent ({end.describe()})")
    return None


@check("TO-2")
def idle_close_names_net0001(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """TO-2 (SHOULD): the idle close is 1011 with a reason naming NET-0001."""
    end = _idle_close(trace, scenario, "TO-2")
    if end is None or end.close is None:
        return NOT_APPLICABLE
    if end.close.code != 1011 or not _NET_0001.search(end.close.reason):
        raise RuleViolation(
            "TO-2",
            f"the idle close was {end.describe()}; expected 1011 with a reason naming NET-0001 (or dpgr.am/net0001)",
        )
    return None


@check("TO-4")
def metadata_before_idle_close(ctx: CheckContext, trace: Trace, scenario: Scenario) -> object:
    """TO-4 (SHOULD): Metadata comes before the idle close."""
    end = _idle_close(trace, scenario, "TO-4")
    if end is None or end.close is None:
        return NOT_APPLICABLE
    sent = [e for e in trace.entries if e.direction == "sent"]
    last_sent = sent[-1].t if sent else 0.0
    if not any(e.t >= last_sent for e, _ in trace.messages("Metadata")):
        unread = unreadable_since(trace, sent[-1].index if sent else -1)
        if unread is not None:
            raise NotJudged("TO-4", f"no Metadata could be read before the idle close ({end.describe()}): {unread}")
        raise RuleViolation("TO-4", f"no Metadata before the idle close ({end.describe()})", absence=True)
    return None

"""The suite against implementations that break several things at once, compared verdict by verdict
with what was written by hand (tests/corpus/*.yaml): no false alarm, no miss, no vacuous pass, no
rule blamed for another's cause. Servers: three corpus servers written apart from the mock, and
the mock with five faults at once. Clients: the faulty client's real-world failures (never
streams, dies on its first frame, closes right after CloseStream, hangs after a 1011).
"""

from __future__ import annotations

import asyncio

import pytest

from conformance.engine.record import CaseRecord

from corpus.ground_truth import details
from corpus.run import SERVER_EXPECTATIONS, client_agreement, client_runs, server_agreement, server_runs


@pytest.fixture(scope="module")
def servers_played() -> dict[str, tuple[CaseRecord, ...]]:
    return asyncio.run(server_runs())


@pytest.mark.parametrize("name", SERVER_EXPECTATIONS)
def test_server_verdicts_match_the_hand_written_ones(
    servers_played: dict[str, tuple[CaseRecord, ...]], name: str
) -> None:
    records = servers_played[name]
    agreement = server_agreement(name, records)
    assert not agreement.mismatches, "\n".join(agreement.mismatches) + "\nall findings:\n" + details(records)
    assert agreement.pairs > 150 and agreement.actual_positive > 0


def test_client_verdicts_match_the_hand_written_ones() -> None:
    runs = asyncio.run(client_runs())
    agreement = client_agreement(runs)
    assert not agreement.mismatches, (
        "\n".join(agreement.mismatches) + "\nall findings:\n" + details(record for _, record in runs)
    )

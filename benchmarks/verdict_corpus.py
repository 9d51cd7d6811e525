"""How far the suite's verdicts agree with the verdicts written by hand for the corpus
(tests/corpus): precision and recall over broken rules, false alarms, misses, vacuous passes.

    python benchmarks/verdict_corpus.py

Plays the whole suite against three corpus servers and the mock with five faults at once, and
the client judge against the faulty client's real-world failures, all on 127.0.0.1 (about 20 s).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from corpus.ground_truth import Agreement  # noqa: E402
from corpus.run import client_agreement, client_runs, server_agreement, server_runs  # noqa: E402


def main() -> int:
    total = Agreement()
    for name, records in asyncio.run(server_runs()).items():
        agreement = server_agreement(name, records)
        print(f"server {name:13} {agreement.summary()}")
        total.add(agreement)
    clients = client_agreement(asyncio.run(client_runs()))
    print(f"clients{'':14} {clients.summary()}")
    total.add(clients)
    print(f"all{'':18} {total.summary()}")
    for mismatch in total.mismatches:
        print(f"  mismatch: {mismatch}")
    return 0 if not total.mismatches else 1


if __name__ == "__main__":
    sys.exit(main())

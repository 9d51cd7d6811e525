"""Load test live STT streams: ``conformance load --host ws://HOST:PORT`` (in a checkout, also
``locust -f loadtest/locustfile.py``).

Each user plays the scenario (default: real-time speech, Finalize, CloseStream) through the
conformance engine and reports a latency per result (final_latency, interim_latency,
speech_final_latency), connect, first_result, first_final, finalize_ack, close_metadata, stream
and send_lateness; failures are classified (see conformance/load/metrics.py).
"""

# Imported for the listeners they register: the threshold gate, the GC pacing, the CSV's last
# write, and a worker's check of the user classes it is asked to play.
from conformance.load import csv_final, gate, gc_pacing, worker_check  # noqa: F401
from conformance.load.users import StreamingUser

__all__ = ["SpeechStream"]


class SpeechStream(StreamingUser):
    """A real-time speech stream per iteration."""

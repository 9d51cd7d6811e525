"""Load test live STT streams: ``locust -f loadtest/locustfile.py --host ws://HOST:PORT``.

Each user plays the scenario (default: real-time speech, Finalize, CloseStream) through the
conformance engine and reports connect, first_result, first_final, finalize_ack, close_metadata,
stream and send_lateness; failures are classified (see loadtest/metrics.py).
"""

from conformance.load import gate, gc_pacing  # noqa: F401  (register the threshold gate and the GC pacing)
from conformance.load.users import StreamingUser


class SpeechStream(StreamingUser):
    """A real-time speech stream per iteration."""

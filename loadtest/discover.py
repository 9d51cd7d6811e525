"""``locust -f loadtest/discover.py --headless`` in a checkout: capacity discovery by SLO, the
locustfile that ``conformance load --discover`` runs (:mod:`conformance.load.discovery`)."""

from conformance.load.discovery import CapacityDiscovery, SpeechStream

__all__ = ["CapacityDiscovery", "SpeechStream"]

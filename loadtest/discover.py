"""``locust -f loadtest/discover.py --headless`` in a checkout: capacity discovery by SLO, the
locustfile that ``conformance load --discover`` runs (:mod:`conformance.load.discovery`)."""

from conformance.load.discovery import CapacityDiscovery, DiscoveryStream

__all__ = ["CapacityDiscovery", "DiscoveryStream"]

"""``locust -f loadtest/locustfile.py`` in a checkout: the locustfile that ``conformance load`` runs
from the installed package (:mod:`conformance.load.locustfile`)."""

from conformance.load.locustfile import SpeechStream

__all__ = ["SpeechStream"]

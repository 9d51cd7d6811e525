"""The bundled reference server of the /v1/listen contract."""

from conformance.mock.server import LISTEN_PATH, MockConfig, MockServer

__all__ = ["MockConfig", "MockServer", "LISTEN_PATH"]

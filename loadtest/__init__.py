"""Load testing with locust: streaming users that play scenarios through conformance's engine.

Imports ``conformance`` (pure packages and ``transport.sync``); ``conformance`` never imports this.
"""

"""Load testing with locust: streaming users that play scenarios through conformance's engine.

The top layer beside the CLI: it imports the engine, the sync transport and the checks, and
nothing in ``conformance`` imports it (importing locust monkey-patches the process with gevent,
so ``conformance load`` runs it in its own locust process). This ``__init__`` imports nothing.
"""

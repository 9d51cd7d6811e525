"""Orchestration: play scenarios through a transport and judge them with the checks.

The only package that brings the engine (plan, trace, records), the transport and the checks
together; the layers below it never import it or each other upwards.
"""

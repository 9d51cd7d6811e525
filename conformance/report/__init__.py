"""Consumers of the event stream: console, JUnit XML, JSON report, JSONL traces."""

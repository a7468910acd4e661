"""Causely findings in, incident.io incidents out: an operator and a standalone service."""

__version__ = "0.1.0"

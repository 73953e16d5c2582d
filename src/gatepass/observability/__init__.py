"""Structured logging (structlog) with redaction, and Prometheus metrics."""

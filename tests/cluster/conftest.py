"""Fixtures of the multi-instance tests (see ``_cluster``)."""

from ._cluster import cluster

__all__ = ["cluster"]

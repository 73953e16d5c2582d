"""Gatepass: an agent-ready OAuth 2.1 authorization server and resource-server toolkit."""

__version__ = "0.1.0"
__all__ = ["__version__"]

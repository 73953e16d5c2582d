"""Runnable examples built on Gatepass (importable so the test suite can drive them)."""

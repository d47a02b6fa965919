"""Shared test infrastructure: TLS material, a real mosquitto, a scripted fake broker.

The fixtures that use these live in ``tests/conftest.py``.
"""

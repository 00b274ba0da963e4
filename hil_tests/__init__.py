"""The host-in-the-loop suite (a package so its conftest does not shadow tests/conftest.py)."""

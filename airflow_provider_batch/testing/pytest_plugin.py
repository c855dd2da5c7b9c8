"""pytest fixtures for testing DAGs against the local Together-compatible server.

Registered through the ``pytest11`` entry point, so installing the provider makes the
fixtures available in any project's test suite.
"""

"""Test-only plugins, registered by the tests that need them."""

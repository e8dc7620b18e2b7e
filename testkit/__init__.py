"""Test and benchmark support shared by tests/ and bench/: real servers and stand-ins, never mocks.

Dev-only: neither service imports it, and it imports no service.
"""

"""Fake servers for tests: loopback stand-ins for the model APIs the runners talk to."""

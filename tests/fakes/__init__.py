"""Fakes used by the tests: a local Anthropic Messages API server and fake agent CLIs."""

"""Layers with the mistakes of the deliberate-mistake table (issue 21), each wrong in one way."""

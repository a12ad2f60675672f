"""Profiling pipeline tests."""

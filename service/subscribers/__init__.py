"""Subscribers domain."""

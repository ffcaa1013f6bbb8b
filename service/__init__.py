"""Tidings: a self-hosted newsletter service. See ``service/README.md`` for the floor plan."""

"""Adapters: what the capabilities use to reach the world outside the process (Redis, the cache, mail, files, links)."""

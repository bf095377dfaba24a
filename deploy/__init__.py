"""Deployment: the image's helpers, nginx, PostgreSQL replication, compose checks, AWS."""

"""Deployment: rebuilding exported models, and their single-thread CPU latency."""

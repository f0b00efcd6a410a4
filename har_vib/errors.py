"""Errors that carry a message meant for the user: what is wrong, where, and how to fix it."""


class ConfigError(ValueError):
    """A configuration value is wrong (unknown dataset name, impossible split...)."""

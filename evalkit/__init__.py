"""evalkit: an evaluation harness for AI mixing assistants."""

__version__ = "0.1.0"

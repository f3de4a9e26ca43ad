"""Logs, metrics and traces of the read path, configured by the Powertools environment variables."""

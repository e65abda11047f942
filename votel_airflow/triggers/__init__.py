"""Async triggers the deferrable sensors and operators hand off to."""

"""Sensors, each able to poke, reschedule, or defer to an async trigger."""

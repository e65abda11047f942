"""Operators, one module per Votel API section."""

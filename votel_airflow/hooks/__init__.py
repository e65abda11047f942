"""Hooks: the only code in the package that talks HTTP."""

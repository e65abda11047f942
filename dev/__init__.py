"""Developer tools run from a checkout (``make demo``); not part of the installed provider."""

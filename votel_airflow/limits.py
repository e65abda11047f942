"""Numeric limits shared by the hook and the operators, in a module that is free to import.

Operators check their arguments against these at DAG parse time; importing them from the hook
module would load the whole HTTP layer into every DAG parse.
"""

from __future__ import annotations

#: The contract's largest ``limit`` on a list endpoint.
MAX_PAGE_SIZE = 500
#: Pooled HTTP connections per sync hook, and so the most sends a task runs at once.
POOL_SIZE = 32

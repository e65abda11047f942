"""``votel-check-api``: does the real API match the endpoint catalogue? Known at first contact.

Two modes, and the command says which one ran:

- **document**: the service's own OpenAPI document (``{base}/openapi.json``, then the origin's
  ``/openapi.json``) is read, and every ``(method, path)`` of :data:`votel_airflow.endpoints.OPERATIONS`
  is compared with it (path, method, required query and body fields) without calling any of them;
- **probing**, when there is no document: only the safe reads are sent (every ``GET`` without
  path parameters, ``limit=1`` on lists), one at a time under the connection's request policy.

It never sends a request with a side effect and never prints the key. Each endpoint that failed
names the operators, sensors and hook verbs that use it (:mod:`.usage`, read from the code).
Exit status: 0 when every checked endpoint matched, 1 when one did not, 2 when the check could not
run (bad connection, a base URL answering HTML, no answer).

Modules: :mod:`.results` (what a check finds), :mod:`.opening` (the connection and the hook),
:mod:`.document` and :mod:`.probing` (the two modes), :mod:`.usage`, :mod:`.report` (text and
JSON), :mod:`.cli` (the command).
"""

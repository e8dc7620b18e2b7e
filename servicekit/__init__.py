"""What Central and the AI service share at the HTTP layer; it imports no service and no dev tools.

Each service keeps its own `Settings` and routes; this package holds the pieces whose behaviour
must be the same on both sides of the wire: reading the environment (`settings`), the error body
and handlers (`errors`), the admin key (`auth`), the JSON request log (`logs`), the request id and
trace passed from Central to the AI (`correlation`), request metrics (`metrics`), bounded uploads
(`uploads`), id path parameters and 405s (`routing`) and the server (`server`).
"""

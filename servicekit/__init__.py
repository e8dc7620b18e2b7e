"""What Central and the AI service share at the HTTP layer; it imports no service and no dev tools.

Each service keeps its own settings and routes; this package holds the pieces whose behaviour must
be the same on both sides of the wire.
"""

"""BakeSight AI inference service (Starlette, Pillow, torch), answering on port 9000.

It shares only the `contract` package with Central; nothing of Central is imported here.
"""

"""BakeSight AI inference service.

Kept empty on purpose: Central imports `ai.client` (httpx and the standard library only), so
importing the package must not pull in Starlette, Pillow or torch.
"""

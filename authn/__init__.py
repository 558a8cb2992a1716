"""Auth0 access tokens for Django: strict validation, resilient key sets, DPoP and mTLS.

``authn.verify(request)`` and ``authn.averify(request)`` are the public entry
points; they are imported on first use, so importing ``authn`` loads nothing
of Django's.
"""

from __future__ import annotations

from typing import Any

__version__ = "2.0.0"
__all__ = ["averify", "verify"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from authn import runtime  # noqa: PLC0415 - needs Django's settings, so not at import time

        return getattr(runtime, name)
    raise AttributeError(f"module 'authn' has no attribute {name!r}")

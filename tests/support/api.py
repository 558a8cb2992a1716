"""The example API (messages_api) as its clients see it: what each endpoint answers, and a request made
from a thread of its own."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

PUBLIC_MESSAGE = "Hello from a public endpoint! You don't need to be authenticated to see this."
PRIVATE_MESSAGE = "Hello from a private endpoint! You need to be authenticated to see this."
SCOPED_MESSAGE = (
    "Hello from a private endpoint! You need to be authenticated and have a scope of read:messages to see this."
)


def get_private(token: str) -> Any:
    """GET /api/private with ``token``, from a client of its own: for use in a thread (a test client is not
    thread-safe)."""
    return APIClient().get("/api/private", HTTP_AUTHORIZATION=f"Bearer {token}")

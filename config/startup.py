"""What a serving process says when it starts: which issuer it trusts."""

from __future__ import annotations

import logging

from authn import trust

logger = logging.getLogger("authn")


def announce() -> None:
    logger.info(trust.describe())

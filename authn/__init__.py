"""Auth0 access tokens for Django: strict validation, resilient key sets, DPoP and mTLS."""

__version__ = "2.0.0"

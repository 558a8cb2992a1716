"""``manage.py mint_token``: a token the running development server accepts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from authn import trust
from authn.conf import auth0_settings


class Command(BaseCommand):
    help = (
        "Print an access token signed by the embedded development issuer (AUTH0_DOMAIN unset, debug on). "
        "The token is alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", default=None, help='space-separated scopes, e.g. "read:messages" (may be empty)')
        parser.add_argument("--permissions", default=None, help="space-separated permissions (Auth0 RBAC claim)")
        parser.add_argument("--sub", default="dev|local-user", help="the subject (default: %(default)s)")
        parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default: %(default)s)")
        parser.add_argument("--aud", default=None, help="the audience (default: the first configured audience)")

    def handle(self, *args: Any, **options: Any) -> None:
        issuer = trust.dev_issuer()
        if issuer is None:
            raise CommandError(
                "The development issuer is not active, so no token minted here would be accepted: it is trusted "
                "only while AUTH0_DOMAIN is unset and debug is on (DJANGO_DEBUG unset under `make run`, or true). "
                "Against a real tenant, get a token from Auth0 (README, 'Connecting a real Auth0 tenant')."
            )
        if options["ttl"] <= 0:
            raise CommandError("--ttl must be a positive number of seconds.")
        permissions = options["permissions"]
        audience = options["aud"] or auth0_settings.dev_audiences[0]
        token = issuer.mint(
            audience=audience,
            subject=options["sub"],
            scope=options["scope"],
            permissions=permissions.split() if permissions is not None else None,
            ttl=options["ttl"],
        )
        self.stderr.write(f"Signed by {issuer.issuer} for {audience}, valid {options['ttl']} s.")
        if not settings.DEBUG:
            self.stderr.write("DJANGO_DEBUG is unset here: this token is for the server `make run` starts.")
        self.stdout.write(token)

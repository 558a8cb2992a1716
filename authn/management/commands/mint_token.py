"""``manage.py mint_token``: a token the running development server accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management.base import BaseCommand, CommandError, CommandParser

from authn import conf, runtime
from authn.devissuer import DEV_AUDIENCE, DevIssuerKeyError, dpop_public_jwk, load_or_create_dpop_key
from authn.jose import thumbprint


def dpop_key(file: str | None) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    """The P-256 key in ``file`` (default: dpop-key.pem beside the development issuer's key), made if missing."""
    key_file = Path(file) if file else conf.get().dev_key_file.parent / "dpop-key.pem"
    try:
        return key_file, load_or_create_dpop_key(key_file)
    except DevIssuerKeyError as err:
        raise CommandError(str(err)) from err


class Command(BaseCommand):
    help = (
        "Print an access token signed by the embedded development issuer (no domain configured, debug on). "
        "The token is alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", default=None, help='space-separated scopes, e.g. "read:messages" (may be empty)')
        parser.add_argument("--permissions", default=None, help="space-separated permissions (Auth0 RBAC claim)")
        parser.add_argument("--sub", default="dev|local-user", help="the subject (default: %(default)s)")
        parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default: %(default)s)")
        parser.add_argument("--aud", default=None, help="the audience (default: the first configured audience)")
        parser.add_argument(
            "--dpop-key",
            nargs="?",
            const="",
            default=None,
            metavar="FILE",
            help="bind the token to this P-256 key (cnf.jkt), generated if missing "
            "(default file: dpop-key.pem beside the development issuer's key)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        issuer = runtime.dev_issuer()
        if issuer is None:
            raise CommandError(
                "The development issuer is not active, so no token minted here would be accepted: it is trusted "
                "only while AUTH0_DOMAIN is unset and DEBUG is on. Against a real tenant, get a token from Auth0 "
                "(its dashboard: Applications > APIs > your API > Test)."
            )
        if options["ttl"] <= 0:
            raise CommandError("--ttl must be a positive number of seconds.")
        permissions = options["permissions"]
        audience = options["aud"] or next(iter(conf.get().audience), DEV_AUDIENCE)
        cnf = None
        if options["dpop_key"] is not None:
            key_file, key = dpop_key(options["dpop_key"])
            cnf = {"jkt": thumbprint(dpop_public_jwk(key))}
            self.stderr.write(f"Bound to the DPoP key in {key_file}: send it as 'Authorization: DPoP <token>'.")
        token = issuer.mint(
            audience=audience,
            subject=options["sub"],
            scope=options["scope"],
            permissions=permissions.split() if permissions is not None else None,
            ttl=options["ttl"],
            cnf=cnf,
        )
        self.stderr.write(f"Signed by {issuer.issuer} for {audience}, valid {options['ttl']} s.")
        self.stdout.write(token)

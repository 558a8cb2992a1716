"""``manage.py dpop_proof``: a fresh DPoP proof for one request, signed with a local P-256 key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authn.devissuer import DevIssuerKeyError, load_or_create_dpop_key, sign_dpop_proof
from authn.management.commands.mint_token import default_dpop_key_file


class Command(BaseCommand):
    help = (
        "Print a DPoP proof (RFC 9449) for one request, signed with the key `mint_token --dpop-key` binds tokens "
        "to. A proof is good for one request: make a new one for each. The proof is alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="the request's URL, e.g. http://127.0.0.1:8000/api/private")
        parser.add_argument("--method", default="GET", help="the request's method (default: %(default)s)")
        parser.add_argument("--token", default=None, help="the access token the request carries (sets ath)")
        parser.add_argument("--nonce", default=None, help="the server's DPoP-Nonce, when it asks for one")
        parser.add_argument("--key", default=None, metavar="FILE", help="the P-256 key (default: as mint_token)")

    def handle(self, *args: Any, **options: Any) -> None:
        key_file = Path(options["key"]) if options["key"] else default_dpop_key_file()
        try:
            key = load_or_create_dpop_key(key_file)
        except DevIssuerKeyError as err:
            raise CommandError(str(err)) from err
        proof = sign_dpop_proof(
            key, method=options["method"], url=options["url"], token=options["token"], nonce=options["nonce"]
        )
        self.stdout.write(proof)

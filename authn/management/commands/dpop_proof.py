"""``manage.py dpop_proof``: a fresh DPoP proof for one request, signed with a local P-256 key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from authn.devissuer import sign_dpop_proof
from authn.management.commands.mint_token import dpop_key


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
        _, key = dpop_key(options["key"])
        proof = sign_dpop_proof(
            key, method=options["method"], url=options["url"], token=options["token"], nonce=options["nonce"]
        )
        self.stdout.write(proof)

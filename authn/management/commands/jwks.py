"""``manage.py jwks``: fetch the configured key set once and say what is usable, or why not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authn.conf import auth0_settings
from authn.jwks import KeySetError, fetch_key_set, parse_key_set


class Command(BaseCommand):
    help = "Fetch AUTH0_JWKS_URL once, as the server would, and print the usable key ids or the reason it failed."

    def handle(self, *args: Any, **options: Any) -> None:
        s = auth0_settings
        if not s.domain:
            raise CommandError("AUTH0_DOMAIN is not set: there is no tenant key set to fetch.")
        self.stdout.write(f"Fetching {s.jwks_url}")
        try:
            document = fetch_key_set(
                s.jwks_url,
                connect_timeout=s.jwks_connect_timeout,
                read_timeout=s.jwks_read_timeout,
                max_bytes=s.jwks_max_bytes,
            )
            keys, ignored = parse_key_set(document, algorithms=s.algorithms, max_keys=s.jwks_max_keys)
        except KeySetError as err:
            raise CommandError(f"Unusable key set from {s.jwks_url}: {err}") from err
        for reason in ignored:
            self.stdout.write(f"ignored: {reason}")
        for kid, key in keys.items():
            self.stdout.write(
                f"usable: kid={kid} alg={key.algorithm or '(any allowed)'} bits={key.public_key.key_size}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(keys)} usable signing key(s)."))

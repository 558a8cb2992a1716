"""``manage.py jwks``: fetch the configured key set once and say what is usable, or why not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authn import trust
from authn.conf import auth0_settings
from authn.jwks import KeySetError


class Command(BaseCommand):
    help = "Fetch AUTH0_JWKS_URL once, as the server would, and print the usable key ids or the reason it failed."

    def handle(self, *args: Any, **options: Any) -> None:
        if not auth0_settings.domain:
            raise CommandError("AUTH0_DOMAIN is not set: there is no tenant key set to fetch.")
        key_set = trust.tenant_key_set()
        self.stdout.write(f"Fetching {key_set.url}")
        try:
            keys, ignored = key_set.fetch_once()
        except KeySetError as err:
            raise CommandError(f"Unusable key set from {key_set.url}: {err}") from err
        for reason in ignored:
            self.stdout.write(f"ignored: {reason}")
        for kid, key in keys.items():
            self.stdout.write(
                f"usable: kid={kid} alg={key.algorithm or '(any allowed)'} bits={key.public_key.key_size}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(keys)} usable signing key(s)."))

"""``manage.py jwks``: fetch each trusted issuer's key set once and say what is usable, or why not."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from authn import conf
from authn.clock import Clock
from authn.conf import TrustMode
from authn.issuers import configured_issuers
from authn.jwks import KeySetCache, KeySetError, discovery_url
from authn.runtime import key_policy, key_set


class Command(BaseCommand):
    help = (
        "Fetch each issuer's key set once (after its discovery document, when discovery is on), as the "
        "server would, and print the usable key ids or the reason it failed. Exits non-zero unless every issuer "
        "has a usable key set."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        settings = conf.get()
        if settings.trust_mode is TrustMode.RESOLVER:
            raise CommandError("AUTH0_DOMAIN is a resolver: the issuers are decided per request, none to fetch here.")
        configs = configured_issuers(settings)
        if not configs:
            raise CommandError("AUTH0_DOMAIN is not set: there is no tenant key set to fetch.")
        policy, clock = key_policy(settings), Clock()
        caches = [key_set(config, policy, clock) for config in configs]
        failures = [failure for cache in caches if (failure := self._report(cache)) is not None]
        if failures:
            raise CommandError("; ".join(failures))

    def _report(self, cache: KeySetCache) -> str | None:
        """Print what ``cache``'s issuer publishes; the failure, if any."""
        self.stdout.write(f"Issuer {cache.issuer}")
        if cache.discovers:
            self.stdout.write(f"Discovering {discovery_url(cache.issuer)}")
        try:
            keys, ignored = cache.fetch_once()
        except KeySetError as err:
            return f"Unusable key set from {cache.url}: {err}"
        self.stdout.write(f"Fetching {cache.url}")
        for reason in ignored:
            self.stdout.write(f"ignored: {reason}")
        for kid, key in keys.items():
            self.stdout.write(
                f"usable: kid={kid} alg={key.algorithm or '(any allowed)'} bits={key.public_key.key_size}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(keys)} usable signing key(s)."))
        return None

"""Every ``AUTH0_*`` setting: its name, default, kind and meaning, in one place.

``authn.conf`` builds its settings snapshot from this table (one field per
row), the system checks iterate it, and the documentation's configuration
page is generated from it. Nothing else states a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

PREFIX = "AUTH0_"  # every setting's name starts with it


class Kind(Enum):
    """What a setting's value must be, and how the snapshot reads it.

    The system checks refuse a value of the wrong kind (``authn.E008``, ``authn.E009`` for names); a
    ``CHOICE`` or ``OTHER`` setting has a check of its own.
    """

    POSITIVE = "a positive number"
    NON_NEGATIVE = "a non-negative number"
    BOOLEAN = "True or False"
    NAME = "a non-empty string"
    TEXT = "a string"
    LIST = "a comma-separated string or a list of strings"
    CHOICE = "one of its choices"
    DOMAINS = "a comma-separated string, a list of strings or a callable"
    PATH = "a file path"
    OTHER = "see its own check"


class DPoPMode(StrEnum):
    """Which schemes the ``Authorization`` header may use: Bearer and DPoP, DPoP only, or Bearer only."""

    ALLOWED = "allowed"
    REQUIRED = "required"
    DISABLED = "disabled"


class CertificateFormat(StrEnum):
    """How a TLS proxy writes the client certificate into its header."""

    PEM = "pem"  # URL-encoded PEM: nginx's $ssl_client_escaped_cert, AWS ALB
    DER = "der"  # base64 DER: HAProxy, Traefik
    XFCC = "xfcc"  # Envoy's X-Forwarded-Client-Cert


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: Kind
    meaning: str
    choices: type[StrEnum] | None = None  # the values a CHOICE setting takes

    @property
    def field(self) -> str:
        """Its field in the settings snapshot: ``AUTH0_JWKS_CACHE_SECONDS`` is ``jwks_cache_seconds``."""
        return self.name.removeprefix(PREFIX).lower()


SETTINGS = (
    # -- which tokens are trusted
    Setting(
        "AUTH0_DOMAIN",
        "",
        Kind.DOMAINS,
        "tenant domain(s), comma-separated or a list, e.g. `dev-abc.us.auth0.com,login.example.com`; "
        "or a callable `(request) -> domains`; unset: the development issuer when debugging, otherwise nothing",
    ),
    Setting("AUTH0_AUDIENCE", "", Kind.LIST, "the API identifier; comma-separated or a list for several"),
    Setting(
        "AUTH0_ISSUER",
        "",
        Kind.LIST,
        "expected `iss`, exactly, e.g. `https://login.example.com` (no trailing slash); with several domains, "
        "comma-separated or a list, each for the domain whose host (and port) it names; "
        "a domain without one: `https://{domain}/`",
    ),
    Setting(
        "AUTH0_JWKS_URL",
        "",
        Kind.TEXT,
        "key set URL (one domain only); default `{issuer}.well-known/jwks.json`",
    ),
    Setting(
        "AUTH0_OIDC_DISCOVERY",
        False,
        Kind.BOOLEAN,
        "find each issuer's key set through `{issuer}.well-known/openid-configuration`",
    ),
    Setting(
        "AUTH0_JWKS_HOSTS",
        "",
        Kind.LIST,
        "host names (an optional `:port` allowed), comma-separated or a list, besides the issuer's own origin "
        "that a discovered `jwks_uri` may be on, e.g. `www.googleapis.com`",
    ),
    Setting(
        "AUTH0_ORGANIZATIONS",
        "",
        Kind.LIST,
        "Auth0 Organizations whose tokens are accepted, comma-separated or a list: an entry starting with `org_` "
        "is an `org_id`, any other an `org_name` (compared lower-cased); unset: any token, with an organization "
        "or without",
    ),
    Setting("AUTH0_ALGORITHMS", ("RS256",), Kind.LIST, "allowed token signature algorithms (RSA family only)"),
    Setting("AUTH0_LEEWAY_SECONDS", 10, Kind.NON_NEGATIVE, "clock skew allowed on `exp`, `iat`, `nbf`"),
    Setting("AUTH0_SCOPE_CLAIM", "scope", Kind.NAME, "claim holding space-separated scopes"),
    Setting("AUTH0_PERMISSIONS_CLAIM", "permissions", Kind.NAME, "claim holding an array of permissions (RBAC)"),
    Setting("AUTH0_MAX_TOKEN_LENGTH", 8192, Kind.POSITIVE, "longest token accepted, checked before any parsing"),
    Setting("AUTH0_REALM", "api", Kind.NAME, "`realm` of the Bearer challenge"),
    # -- the verified-token cache
    Setting("AUTH0_TOKEN_CACHE_SIZE", 4096, Kind.NON_NEGATIVE, "validated tokens remembered per process (0: none)"),
    Setting(
        "AUTH0_TOKEN_CACHE_BYTES",
        16 * 1024 * 1024,
        Kind.NON_NEGATIVE,
        "memory those tokens may take per process, in bytes; a token too large for it is not cached",
    ),
    # -- signing keys
    Setting("AUTH0_JWKS_CACHE_SECONDS", 600, Kind.POSITIVE, "how long a fetched key set is fresh"),
    Setting(
        "AUTH0_JWKS_COOLDOWN_SECONDS",
        5,
        Kind.NON_NEGATIVE,
        "least time between two fetches from one issuer (unknown `kid`, retry after failure)",
    ),
    Setting(
        "AUTH0_JWKS_STALE_SECONDS",
        3600,
        Kind.NON_NEGATIVE,
        "how long past its freshness a key set keeps serving while refreshes fail",
    ),
    Setting(
        "AUTH0_JWKS_MAX_WAITING",
        2,
        Kind.OTHER,
        "requests per process that may wait on one issuer's key fetch at once, the fetching one included "
        "(a positive integer); the next get 503 at once",
    ),
    Setting("AUTH0_JWKS_CONNECT_TIMEOUT", 2.0, Kind.POSITIVE, "seconds to connect; a fetch ends after connect + read"),
    Setting("AUTH0_JWKS_READ_TIMEOUT", 3.0, Kind.POSITIVE, "seconds to read; a fetch ends after connect + read"),
    Setting("AUTH0_JWKS_MAX_BYTES", 64 * 1024, Kind.POSITIVE, "largest key set (or discovery) response accepted"),
    Setting("AUTH0_JWKS_MAX_KEYS", 50, Kind.POSITIVE, "most keys accepted in a key set"),
    Setting("AUTH0_JWKS_MIN_RSA_BITS", 2048, Kind.POSITIVE, "smallest RSA modulus accepted"),
    Setting("AUTH0_JWKS_MAX_RSA_BITS", 8192, Kind.POSITIVE, "largest RSA modulus accepted"),
    # -- sender-constrained tokens
    Setting("AUTH0_DPOP", "allowed", Kind.CHOICE, "DPoP: `allowed`, `required` or `disabled`", choices=DPoPMode),
    Setting("AUTH0_DPOP_ALGORITHMS", ("ES256",), Kind.LIST, "allowed DPoP proof algorithms (asymmetric only)"),
    Setting("AUTH0_DPOP_MAX_AGE_SECONDS", 300, Kind.POSITIVE, "oldest DPoP proof accepted, by its `iat`"),
    Setting("AUTH0_DPOP_LEEWAY_SECONDS", 30, Kind.NON_NEGATIVE, "how far in the future a proof's `iat` may be"),
    Setting(
        "AUTH0_DPOP_REPLAY_CACHE",
        "",
        Kind.TEXT,
        "Django cache alias remembering DPoP proof `jti`s for every host (Redis); "
        "unset: authn's replay store, which the workers of one host share",
    ),
    Setting(
        "AUTH0_DPOP_REPLAY_FILE",
        "",
        Kind.OTHER,
        "authn's replay store, a SQLite file only this user may read and write (created so); "
        "unset: `authn-dpop-replay-{uid}/jti.sqlite3` in the system temporary directory",
    ),
    Setting(
        "AUTH0_DPOP_REPLAY_MAX_ENTRIES",
        1_000_000,
        Kind.POSITIVE,
        "most proofs authn's replay store holds (those of the last one or two windows of max age + leeway, "
        "about 26 bytes each); when full, new DPoP proofs get 503 until the older ones expire",
    ),
    Setting("AUTH0_DPOP_NONCE", False, Kind.BOOLEAN, "require DPoP proofs to carry a nonce this API issued"),
    Setting("AUTH0_DPOP_NONCE_SECONDS", 300, Kind.POSITIVE, "how long an issued DPoP nonce is accepted"),
    Setting(
        "AUTH0_MTLS_CLIENT_CERT_HEADER",
        "",
        Kind.TEXT,
        "request header in which the TLS proxy passes the client certificate; "
        "unset: certificate-bound tokens are refused",
    ),
    Setting(
        "AUTH0_MTLS_CLIENT_CERT_FORMAT",
        "pem",
        Kind.CHOICE,
        "how the proxy writes it: `pem` (URL-encoded PEM: nginx, AWS ALB), `der` (base64 DER: HAProxy, Traefik) "
        "or `xfcc` (Envoy's `X-Forwarded-Client-Cert`); exactly one certificate",
        choices=CertificateFormat,
    ),
    Setting(
        "AUTH0_MTLS_TRUSTED_PROXIES",
        ("127.0.0.1", "::1"),
        Kind.LIST,
        "peers (`REMOTE_ADDR`) whose client certificate header is read: IP addresses or CIDR networks, "
        "comma-separated or a list; `*`: any peer. From any other, certificate-bound tokens are refused",
    ),
    # -- users, logs, the development issuer
    Setting(
        "AUTH0_USER_LOOKUP_FIELD",
        "username",
        Kind.NAME,
        "user model field holding `sub` (`Auth0UserAuthentication`; must be unique)",
    ),
    Setting(
        "AUTH0_USER_CLAIMS_HOOK",
        None,
        Kind.OTHER,
        "callable or dotted path `hook(user, token, created)` copying claims onto the user",
    ),
    Setting(
        "AUTH0_READYZ_ISSUERS",
        True,
        Kind.BOOLEAN,
        "`/readyz` names each trusted issuer and its state (False: the overall status alone)",
    ),
    Setting(
        "AUTH0_REFUSAL_LOG_RATE",
        20,
        Kind.NON_NEGATIVE,
        "refusal log lines per second per process; past it, only the first refusal of each kind, as many again "
        "at most (0: all)",
    ),
    Setting(
        "AUTH0_DEV_KEY_FILE",
        ".dev-issuer/signing-key.pem",
        Kind.PATH,
        "the development issuer's private key, relative to the working directory (generated, git-ignored)",
    ),
)

DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}

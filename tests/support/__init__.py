"""What the tests stand on: stand-ins for the world outside ``authn``, and helpers. No tests here.

- ``tenant``: the stand-in Auth0 tenant (``TenantServer``, its responders), the keys it publishes, and the
  tenant the tests trust by default (``ISSUER``, ``AUDIENCE``, ``KID``).
- ``two_tenants``: fixtures of two HTTPS tenants trusted by domain (a pytest plugin).
- ``api``: what the example API's endpoints answer.
- ``tokens``: tokens no key signed, written by hand.
- ``dpop_client``: a DPoP client written from the RFCs, without ``authn``.
- ``rfc_examples``: the RFCs' example keys, whose thumbprints the RFCs give.
- ``tls``: certificate authorities and certificates made at test time.
- ``clock``: clocks moved by hand, in this process (``FakeClock``) and shared with servers (``SharedClock``).
- ``waiting``: waiting in real time for other threads and processes.
- ``network``: free loopback ports, and the connections the process makes.
- ``servers``: the example project served by gunicorn, runserver or uvicorn, configured by the environment.
- ``services``: private Redis, PostgreSQL and nginx servers and their fixtures (a pytest plugin).
- ``checkout``: this repository's root and files, as a fresh clone would hold them.
- ``refusals``: the refusal log's line, as tests read it.
- ``package``: authn's wheel and fresh virtual environments that install it (a pytest plugin).
- ``browser``: Debian's headless Chromium for the tests that drive a browser.
- ``builders``: ``authn``'s parts built as the settings' defaults would build them.
"""

"""Imported by a project's ``wsgi.py`` or ``asgi.py``, after its application is made::

    import authn.serving  # noqa: E402, F401 - refuses to serve on authn's system-check errors

gunicorn, uvicorn, daphne or any other server loading that module then exits
non-zero before serving, one line per error and no traceback, when a system
check finds an error (with ``DEBUG`` off, authn's deploy checks count too);
otherwise it logs which issuers it trusts.
"""

from __future__ import annotations

from authn.startup import ready_to_serve

ready_to_serve()

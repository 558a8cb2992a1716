"""gunicorn's settings for this project, read by a plain ``gunicorn config.wsgi:application`` run here.

Every value can be overridden on the command line. Environment:
``WEB_CONCURRENCY`` (workers), ``GUNICORN_THREADS`` (threads per worker),
``FORWARDED_ALLOW_IPS`` (proxies trusted for X-Forwarded-*), ``METRICS_ENABLED``,
``LOG_FORMAT``/``LOG_LEVEL``, and the Django settings' own (README, Configuration).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from typing import Any

from django.conf import settings
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser

from authn import conf

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# prometheus_client's multiprocess mode: each worker writes its values to files in this directory, and
# /metrics adds them up. It must be set before prometheus_client is first imported (the settings do not
# import it), and be empty at start.
_metrics_directory = None
if settings.METRICS_ENABLED and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_directory = tempfile.mkdtemp(prefix="gunicorn-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_directory

# Threads, so a few slow clients holding connections cannot stall the API (sync workers serve one at a time).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", str(os.cpu_count() or 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5

# Every token-size refusal is authn's JSON 401: the header may hold a token well past AUTH0_MAX_TOKEN_LENGTH
# (and the DPoP proof its own header) before gunicorn's own HTML 431 would answer.
limit_request_field_size = 2 * conf.get().max_token_length + 1024
# All of a request's header fields together: that longest field, then 20 KiB for a DPoP proof (authn reads
# one of 4 KiB at most) and everything else (cookies, a browser's negotiation headers).
MAX_HEADER_BYTES = limit_request_field_size + 20 * 1024


class BoundedHeadersRequest(Request):
    """gunicorn's request, all its header fields together held to ``MAX_HEADER_BYTES``; past that, gunicorn's 431.

    gunicorn has no setting for this. Its own bound is limit_request_fields (100) times the field size, 1.7 MB
    here, and its parser rescans all it holds on every read: header bytes sent in small pieces cost a worker
    CPU growing with the square of that bound, over a second for one request. Fewer fields would not do: a
    bound this low would leave room for two. gunicorn sets ``max_buffer_headers`` just before ``parse``.
    """

    def parse(self, unreader: Any) -> bytes:
        self.max_buffer_headers = min(self.max_buffer_headers, MAX_HEADER_BYTES)
        return super().parse(unreader)


RequestParser.mesg_class = BoundedHeadersRequest

# No control socket: gunicorn 27 shares one per user (~/.gunicorn/), so two instances on a host would collide.
control_socket_disable = True

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The access log names the path without its query string (%(U)s), and no Referer, which may carry one.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Django's logging, gunicorn's own loggers (worker boots, the access log) through the same handler and format.
logconfig_dict = {
    **settings.LOGGING,
    "loggers": {
        **settings.LOGGING["loggers"],
        "gunicorn.error": {"level": settings.LOG_LEVEL, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}


def on_starting(server: Any) -> None:
    """Before anything listens: refuse to start when a system check reports an error."""
    import django  # noqa: PLC0415

    from authn.startup import check_or_exit  # noqa: PLC0415 - needs the apps, loaded just here

    django.setup()
    check_or_exit()


def post_worker_init(worker: Any) -> None:
    # What start-up allocated lives as long as the worker: out of the collector's sight, full
    # collections only scan what requests allocate (measured: shorter and rarer GC pauses).
    gc.collect()
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _metrics_directory is not None:
        shutil.rmtree(_metrics_directory, ignore_errors=True)

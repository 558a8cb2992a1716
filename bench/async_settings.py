"""The example's settings serving bench/async_urls.py: ``DJANGO_SETTINGS_MODULE=bench.async_settings``."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.async_urls"

"""``path("", include("authn.urls"))``: ``/healthz`` and ``/readyz``."""

from __future__ import annotations

from django.urls import re_path

from authn import views

urlpatterns = [
    re_path(r"^healthz/?$", views.healthz, name="healthz"),
    re_path(r"^readyz/?$", views.readyz, name="readyz"),
]

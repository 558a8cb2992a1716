from __future__ import annotations

from django.urls import re_path

from messages_api import views

# Each path answers with and without a trailing slash: a redirect would drop
# the Authorization header in many clients.
urlpatterns = [
    re_path(r"^public/?$", views.PublicMessageApi.as_view(), name="public"),
    re_path(r"^private/?$", views.PrivateMessageApi.as_view(), name="private"),
    re_path(r"^private-scoped/?$", views.PrivateScopedMessageApi.as_view(), name="private-scoped"),
]

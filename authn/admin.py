"""The identities page: which token identity signs in as which user; adding one links a user on purpose."""

from __future__ import annotations

from django.contrib import admin

from authn.models import Identity


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):  # type: ignore[type-arg] # ModelAdmin is generic in the stubs alone
    """Every identity and its user, searchable; a new row makes that identity's tokens sign in as its user."""

    list_display = ("subject", "issuer", "user", "created")
    list_filter = ("issuer",)
    search_fields = ("subject", "issuer")
    raw_id_fields = ("user",)  # a pick list of every user would not scale
    readonly_fields = ("created",)

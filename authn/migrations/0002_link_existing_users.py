"""The users the previous version made keep their tokens: each is linked to its identity at the one issuer trusted.

The previous version found a token's user by ``sub`` alone, in the lookup field setting's field.
When the settings name exactly one issuer statically (one domain, no resolver;
an issuer given for it honoured), every row it could have made (a name, no
usable password, neither staff nor superuser, no identity yet) becomes the user of
the identity (that issuer, its name). Staff and superusers are never linked here:
link them on purpose (``authn.users.link_identity`` or the admin's identities page).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ImproperlyConfigured
from django.db import migrations

from authn.conf import read
from authn.issuers import configured_issuers
from authn.models import MAX_SUBJECT_LENGTH
from authn.users import lookup_field

PRIVILEGES = ("is_staff", "is_superuser")


def link_existing_users(apps: Any, schema_editor: Any) -> None:
    issuers = configured_issuers(read())
    if len(issuers) != 1:
        return  # several issuers, a resolver or none: which issuer a name came from cannot be known
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    try:
        field = lookup_field(user_model)
    except ImproperlyConfigured:
        return  # the previous version made no user with such a field either
    identity_model = apps.get_model("authn", "Identity")
    database = schema_editor.connection.alias
    made = user_model._default_manager.using(database).filter(
        password__startswith=UNUSABLE_PASSWORD_PREFIX, authn_identities__isnull=True
    )
    made = made.exclude(**{field: ""})
    names = {field.name for field in user_model._meta.get_fields()}
    for privilege in PRIVILEGES:
        if privilege in names:  # a custom user model may have neither
            made = made.exclude(**{privilege: True})
    issuer = issuers[0].issuer
    taken = set(identity_model.objects.using(database).filter(issuer=issuer).values_list("subject", flat=True))
    identity_model.objects.using(database).bulk_create(
        identity_model(issuer=issuer, subject=name, user_id=pk)
        for pk, name in made.values_list("pk", field)
        if len(name) <= MAX_SUBJECT_LENGTH and name not in taken
    )


class Migration(migrations.Migration):
    dependencies = (("authn", "0001_initial"),)

    operations = (migrations.RunPython(link_existing_users, migrations.RunPython.noop),)

"""Who a token is: its identity, the pair (issuer, subject), and the user it signs in as."""

from __future__ import annotations

from django.conf import settings
from django.db import models

MAX_ISSUER_LENGTH = 255
MAX_SUBJECT_LENGTH = 255


class Identity(models.Model):
    """A token identity and its user: made by authn on first sight, or linked on purpose; nothing else signs in."""

    issuer = models.CharField(max_length=MAX_ISSUER_LENGTH, help_text="The token's iss, exactly.")
    subject = models.CharField(max_length=MAX_SUBJECT_LENGTH, help_text="The token's sub, exactly.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authn_identities")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = (models.UniqueConstraint(fields=("issuer", "subject"), name="authn_identity_unique_pair"),)

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"

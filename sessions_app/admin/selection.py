"""Admin actions refuse selected ids that are not ids of the model, instead of a 500."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse


class CheckedSelectionMixin:
    """Django filters the queryset with the posted ``_selected_action`` values as they are, and a value the
    primary key cannot hold (``not-a-uuid`` for a UUID, text for an integer) raises there."""

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        pk = self.model._meta.pk
        for value in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME):
            try:
                pk.to_python(value)
            except ValidationError:
                self.message_user(
                    request,
                    f"Nothing was changed: '{value[:40]}' is not the id of a "
                    f"{self.model._meta.verbose_name}. Reload the page and select again.",
                    messages.ERROR,
                )
                return None  # the changelist redirects back to itself and shows the message
        return super().response_action(request, queryset)

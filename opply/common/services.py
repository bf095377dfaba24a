"""Write helpers every app's services share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction

M = TypeVar("M", bound=models.Model)


def model_update(*, instance: M, data: Mapping[str, Any], on_integrity_error: Callable[[], Exception]) -> M:
    """Set ``data`` on ``instance`` and save just those fields (and its
    ``auto_now`` timestamps), in a savepoint. A unique (or other integrity)
    violation raises ``on_integrity_error()`` instead, with nothing saved:
    the database, not a read before the write, decides races between two
    updates."""
    for field, value in data.items():
        setattr(instance, field, value)
    auto_now = [f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False) and f.name not in data]
    try:
        with transaction.atomic():
            instance.save(update_fields=[*data, *auto_now])
    except IntegrityError:
        raise on_integrity_error() from None
    return instance

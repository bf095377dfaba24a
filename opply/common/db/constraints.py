"""Compatibility across the two supported Django LTS versions."""

import django
from django.db.models import CheckConstraint, Q

# Django 5.1 renamed CheckConstraint's ``check`` to ``condition`` (the old name
# goes in 6.0); 4.2 only knows ``check``.
_CONDITION_KWARG = "condition" if django.VERSION >= (5, 1) else "check"


def check_constraint(condition: Q, name: str) -> CheckConstraint:
    return CheckConstraint(**{_CONDITION_KWARG: condition}, name=name)

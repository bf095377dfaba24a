#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # Commands (migrate, reconcile, seeding) get the maintenance database
    # timeouts; the development server serves requests, so it gets theirs.
    os.environ.setdefault("PROCESS_ROLE", "web" if sys.argv[1:2] == ["runserver"] else "maintenance")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

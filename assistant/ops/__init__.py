"""Running it: the Celery tasks' services (upkeep), the health report, the system checks."""

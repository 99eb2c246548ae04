"""Prefect orchestration layer (the library in portraittalker/ imports no Prefect)."""

import os

# Ephemeral-mode runs (laptops, CI, DVC stages) have no network: skip the telemetry heartbeat.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

"""The background service: APScheduler drives polling until SIGTERM/SIGINT."""

"""The Django admin of sessions_app; thin: every write is a service call. Importing the package (Django's
autodiscover does) registers sessions, their event log, API keys, and the user and group pages with roles."""

from sessions_app.admin import accounts, api_keys, events, sessions

__all__ = ["accounts", "api_keys", "events", "sessions"]

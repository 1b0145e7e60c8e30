"""Read queries, by concern: each returns a queryset or plain values, never HTML or form state (the
pages' contexts are built from them in sessions_app.web.presenters).

sessions: the list's filters, search and pages, one session by id · messages: windows and ranges of
messages by index · usage: usage per exchange from the event log · previews: what a bulk removal
would remove · search: full-text search and the words marked.
"""

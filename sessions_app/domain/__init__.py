"""The Session API without Django: value types, errors, argument checks and the op registry (``ops``).
The stdlib-only client (zyn_client) uses these same definitions."""

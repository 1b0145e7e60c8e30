"""RemoteSession: zyn's Session API over the dashboard's JSON API, with SessionService's method names.

Standard library only (http.client), with the domain's types and errors. One persistent HTTP/1.1
connection per thread.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sessions_app.domain import ops
from sessions_app.domain.types import Event, Message, TokenUsage
from zyn_client.errors import (
    InvalidArgument,
    RateLimited,
    ServerError,
    SessionError,
    SessionNotFound,
    TransportError,
    from_reply,
)

API_PREFIX = "/api/v1"
_UNSET: Any = object()


class Connection:
    """Where the API is and how to authenticate. Thread-safe: each thread keeps its own socket."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        rate_limit_retries: int = 3,
        max_retry_wait: float = 60.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port] (got {base_url!r})")
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname, parsed.port
        path = parsed.path.rstrip("/")
        self.prefix = path if path.endswith(API_PREFIX) else path + API_PREFIX
        self.api_key = api_key
        self.timeout = timeout
        self.rate_limit_retries = rate_limit_retries
        self.max_retry_wait = max_retry_wait
        self._local = threading.local()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        return conn, False

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _send_once(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request(method, self.prefix + path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                # A kept-alive socket the server closed while idle: the request never reached the
                # application, so sending it again on a fresh connection is safe. Once only.
                if reused and attempt == 0:
                    continue
                raise TransportError(f"{method} {path}: connection lost ({exc})") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError(f"{method} {path}: {exc}") from exc
            if response.will_close:
                self.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")

    def request(
        self, method: str, path: str, body: Any = _UNSET, headers: Mapping[str, str] | None = None
    ) -> Any:
        """Send one API call; returns the decoded JSON reply or raises the matching SessionError."""
        all_headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        payload = None
        if body is not _UNSET:
            try:
                payload = json.dumps(body, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise InvalidArgument(f"arguments are not JSON-serialisable: {exc}") from None
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        retries = self.rate_limit_retries
        while True:
            status, reply_headers, data = self._send_once(method, path, payload, all_headers)
            try:
                decoded = json.loads(data) if data else None
            except ValueError:
                decoded = None
            if 200 <= status < 300:
                return decoded
            if not isinstance(decoded, dict) or "error" not in decoded:
                raise ServerError(f"{method} {path}: HTTP {status}: {data[:200]!r}", status=status)
            error = from_reply(status, decoded)
            # A 429 means the request was not executed: waiting and sending it again is safe.
            if isinstance(error, RateLimited) and retries > 0:
                retries -= 1
                wait = reply_headers.get("retry-after", "1")
                time.sleep(min(self.max_retry_wait, float(wait) if wait.isdigit() else 1.0))
                continue
            raise error


def _message_json(message: Any) -> Any:
    if isinstance(message, Message):
        return message.as_dict()
    if isinstance(message, Mapping):
        return dict(message)
    if hasattr(message, "role") and hasattr(message, "content"):  # a look-alike from another library
        return {"role": message.role, "content": message.content}
    return message  # the server explains why it is not a message


def _usage_json(usage: Any) -> Any:
    if usage is None or isinstance(usage, Mapping):
        return usage if usage is None else dict(usage)
    if all(hasattr(usage, f) for f in ("prompt", "completion", "total")):
        return {"prompt": usage.prompt, "completion": usage.completion, "total": usage.total}
    return usage


class RemoteSession:
    """One session on a zyn dashboard. Same methods, arguments and errors as SessionService.

    Writes return the new version. The server records every write with actor ``api:<key name>``.
    """

    def __init__(self, connection: Connection, session_id: str) -> None:
        self.connection = connection
        self.id = str(session_id)
        self._path = f"/sessions/{urllib.parse.quote(self.id, safe='')}"

    def __repr__(self) -> str:
        return f"RemoteSession({self.id})"

    def __len__(self) -> int:
        return self.len()

    # ------------------------------------------------------------ construction

    @classmethod
    def new(
        cls, connection: Connection, name: str = "", metadata: Mapping[str, Any] | None = None
    ) -> RemoteSession:
        body: dict[str, Any] = {"name": name}
        if metadata is not None:
            body["metadata"] = dict(metadata) if isinstance(metadata, Mapping) else metadata
        reply = connection.request("POST", "/sessions", body)
        return cls(connection, reply["id"])

    @classmethod
    def get(cls, connection: Connection, session_id: str) -> RemoteSession:
        session = cls(connection, str(session_id))
        session.info()
        return session

    def info(self) -> dict[str, Any]:
        """The session's summary: id, name, metadata, version, len, usage, created_at, updated_at."""
        return self.connection.request("GET", self._path)

    # ------------------------------------------------------------ reads

    def messages(self) -> list[Message]:
        reply = self.connection.request("GET", f"{self._path}/messages")
        return [Message(m["role"], m["content"]) for m in reply["messages"]]

    def len(self) -> int:
        return int(self.connection.request("GET", f"{self._path}/len")["len"])

    def at(self, index: int) -> Message:
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidArgument(f"index must be an integer (got {index!r})"[:80], field="index")
        reply = self.connection.request("GET", f"{self._path}/messages/{index}")
        return Message(reply["role"], reply["content"])

    def last_usage(self) -> TokenUsage | None:
        usage = self.connection.request("GET", f"{self._path}/usage")["usage"]
        return None if usage is None else TokenUsage(usage["prompt"], usage["completion"], usage["total"])

    def version(self) -> int:
        return int(self.connection.request("GET", f"{self._path}/version")["version"])

    def events(self, after: int = 0) -> list[Event]:
        events: list[Event] = []
        while True:
            reply = self.connection.request("GET", f"{self._path}/events?after={after}&limit=10000")
            for e in reply["events"]:
                events.append(
                    Event(
                        e["version"], e["op"], e["args"], e["actor"], datetime.fromisoformat(e["created_at"])
                    )
                )
            if not reply["more"] or not reply["events"]:
                return events
            after = events[-1].version

    # ------------------------------------------------------------ writes

    def write(self, op: str, args: Mapping[str, Any], *, expected_version: int | None = None) -> int:
        """The Session API write ``op`` with its arguments by name, as ``SessionService.write``."""
        declared = ops.api_write(op)
        body = {p.name: _as_json(p, args.get(p.name)) for p in declared.params if p.name in args}
        if expected_version is not None:
            body["expected_version"] = _integer("expected_version", expected_version)
        reply = self.connection.request("POST", f"{self._path}/{op}", body)
        return int(reply["version"])

    def append(self, role: str, content: str, *, expected_version: int | None = None) -> int:
        return self.write("append", {"role": role, "content": content}, expected_version=expected_version)

    def clear(self, *, expected_version: int | None = None) -> int:
        return self.write("clear", {}, expected_version=expected_version)

    def remove(self, index: int, *, expected_version: int | None = None) -> int:
        return self.write("remove", {"index": index}, expected_version=expected_version)

    def replace(self, index: int, message: Message, *, expected_version: int | None = None) -> int:
        args = {"index": index, "message": message}
        return self.write("replace", args, expected_version=expected_version)

    def insert(self, index: int, message: Message, *, expected_version: int | None = None) -> int:
        args = {"index": index, "message": message}
        return self.write("insert", args, expected_version=expected_version)

    def prune(self, n: int, *, expected_version: int | None = None) -> int:
        return self.write("prune", {"n": n}, expected_version=expected_version)

    def truncate(self, keep_first: int, keep_last: int, *, expected_version: int | None = None) -> int:
        args = {"keep_first": keep_first, "keep_last": keep_last}
        return self.write("truncate", args, expected_version=expected_version)

    def set_messages(self, messages: Iterable[Message], *, expected_version: int | None = None) -> int:
        return self.write("set_messages", {"messages": messages}, expected_version=expected_version)

    def set_usage(self, usage: TokenUsage | None, *, expected_version: int | None = None) -> int:
        return self.write("set_usage", {"usage": usage}, expected_version=expected_version)

    def move(self, from_index: int, to_index: int, *, expected_version: int | None = None) -> int:
        args = {"from_index": from_index, "to_index": to_index}
        return self.write("move", args, expected_version=expected_version)

    def record_exchange(
        self,
        prompt: str,
        response: str,
        usage: TokenUsage | None = None,
        *,
        expected_version: int | None = None,
    ) -> int:
        args = {"prompt": prompt, "response": response, "usage": usage}
        return self.write("record_exchange", args, expected_version=expected_version)


def _integer(name: str, value: Any) -> Any:
    """Refuse 1.0 where SessionService wants an int, as it does: JSON has one number type, so the
    server reads 1.0 as 1 (JSON Schema's "integer" includes it) and cannot tell them apart."""
    if isinstance(value, float):
        raise InvalidArgument(f"{name} must be an integer (got {value!r})", field=name)
    return value


def _as_json(param: ops.Param, value: Any) -> Any:
    """An argument as the API's body takes it, by its declared kind; anything else is sent as it is,
    for the server to explain."""
    if param.kind in (ops.Kind.POSITION, ops.Kind.COUNT):
        return _integer(param.name, value)
    if param.kind is ops.Kind.MESSAGE:
        return _message_json(value)
    if param.kind is ops.Kind.MESSAGES:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise InvalidArgument("messages must be a list of messages", field="messages")
        return [_message_json(m) for m in value]
    if param.kind is ops.Kind.USAGE:
        usage = _usage_json(value)
        if isinstance(usage, Mapping):
            for key, number in usage.items():
                _integer(f"usage.{key}", number)
        return usage
    return value


def connect(base_url: str, api_key: str, **options: Any) -> Connection:
    """A Connection to ``base_url`` (e.g. http://127.0.0.1:8000) using ``api_key``."""
    return Connection(base_url, api_key, **options)


__all__ = ["Connection", "RemoteSession", "SessionError", "SessionNotFound", "connect"]

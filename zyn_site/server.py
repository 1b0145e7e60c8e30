"""daphne, with request bodies refused before they are read.

Run it as daphne: ``python -m zyn_site.server [daphne's options] zyn_site.asgi:application``.

daphne (through twisted.web's ``Request.gotLength``/``handleContentChunk``) reads a request's whole body
into a temporary file, then queues all of it in memory for the application, before Django sees the
request; Django's own limits (``ZYN_FORM_MAX_BYTES``, ``ZYN_API_MAX_BODY_BYTES``) come after that. A
300 MB upload to the login page was read whole. daphne has no option for it, so this entry point runs
daphne's own command line with a request class that

- answers ``413`` as soon as the headers declare a ``Content-Length`` above ``ZYN_MAX_REQUEST_BYTES``, and
  closes the connection without reading the body (no ``100 Continue`` is sent to a client that asked);
- answers ``413`` and closes as soon as a chunked body passes that limit;
- answers ``408`` and closes when a body stops arriving: no byte for ``ZYN_REQUEST_BODY_TIMEOUT_SECONDS``
  (an idle timeout between reads, like nginx's ``client_body_timeout``: a slow upload that keeps moving
  is not cut).

The limit is above the application's own, so a body just over those still gets the application's
answer (the API's JSON 413, the dashboard's 400 page).
"""

from __future__ import annotations

import logging
from typing import Any

import daphne.cli
import daphne.server  # installs daphne's asyncio reactor: import it before anything imports twisted's reactor
from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings

logger = logging.getLogger(__name__)

_STATUS = {408: b"Request Timeout", 413: b"Content Too Large"}


class BoundedBodyRequest(WebRequest):
    """daphne's request, with the body's size and pace bounded while it arrives."""

    refused = False
    received = 0
    body_timer: Any = None

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (twisted's name)
        """The headers are in; ``length`` is the Content-Length (None: chunked, 0: no body)."""
        limit = self.server.max_request_bytes
        if length is not None and length > limit:
            # The channel answers "Expect: 100-continue" right after this call: the client must not be
            # invited to send what is refused.
            self.requestHeaders.removeHeader(b"Expect")
            self.refuse(413, f"The request body is {length} bytes; this server accepts at most {limit}.")
            return
        super().gotLength(length)
        if length != 0:
            from twisted.internet import reactor

            self.body_timer = reactor.callLater(self.server.request_body_timeout, self.body_timed_out)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (twisted's name)
        if self.refused:
            return  # what was already in the read buffer when the request was refused
        self.received += len(data)
        if self.received > self.server.max_request_bytes:
            self.refuse(413, f"The request body is over {self.server.max_request_bytes} bytes.")
            return
        self.body_timer.reset(self.server.request_body_timeout)
        super().handleContentChunk(data)

    def body_timed_out(self) -> None:
        self.body_timer = None
        seconds = self.server.request_body_timeout
        self.refuse(408, f"The request body stopped arriving (nothing for {seconds:g} seconds).")

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:  # noqa: N802
        """The whole body is in: on to daphne (and the application), unless it was refused."""
        self.cancel_body_timer()
        if not self.refused:
            super().requestReceived(command, path, version)

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 (twisted's name)
        self.cancel_body_timer()
        super().connectionLost(reason)

    def cancel_body_timer(self) -> None:
        if self.body_timer is not None and self.body_timer.active():
            self.body_timer.cancel()
        self.body_timer = None

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close, reading nothing more.

        Written straight to the transport, as twisted answers a malformed request: the request line is
        not handed to the request object before its body is in, so the usual response path cannot run.
        """
        self.refused = True
        self.cancel_body_timer()
        channel = self.channel
        if channel is None or channel.transport is None:
            return
        body = (message + "\n").encode()
        head = (
            b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (status, _STATUS[status], len(body))
        )
        logger.warning("refused a request body from %s: %s", channel.transport.getPeer(), message)
        channel.transport.write(head + body)
        channel.loseConnection()  # stops reading: the rest of the body is never read


class BoundedBodyHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802 (twisted's name)
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedBodyRequest
        return protocol


class Server(daphne.server.Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read here: daphne's command line has imported the application (and so Django's settings).
        self.max_request_bytes = int(settings.ZYN_MAX_REQUEST_BYTES)
        self.request_body_timeout = float(settings.ZYN_REQUEST_BODY_TIMEOUT_SECONDS)

    def run(self) -> None:
        # daphne.server.Server.run builds its HTTP factory from this module-level name; daphne has no
        # option to choose the class.
        daphne.server.HTTPFactory = BoundedBodyHTTPFactory
        super().run()


class CommandLineInterface(daphne.cli.CommandLineInterface):
    server_class = Server  # daphne's own hook: every command-line option stays daphne's


if __name__ == "__main__":
    CommandLineInterface.entrypoint()

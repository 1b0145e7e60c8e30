"""Form posts must be text in their charset (UTF-8 unless declared): a 400 otherwise, before any view.

Django decodes form fields with errors="replace" (and an undecodable URL-encoded body as Latin-1), so
bytes that are not UTF-8 would reach a view, and be stored, as U+FFFD or mojibake without anyone
noticing. The JSON API reads its own bodies and words its own errors, so it is left alone.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from io import BytesIO
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.files.uploadhandler import load_handler
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParser
from django.shortcuts import render

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
API_PREFIX = "/api/"
_ESCAPED_HIGH_BYTE = re.compile(rb"%[89a-fA-F][0-9a-fA-F]")  # %80 … %FF: the escapes that can be bad


STRICT_PREFIX = "zyn_strict_"  # (codec lookups lower-case names and fold "-" and "__" to "_")


def _strict_codec(name: str) -> codecs.CodecInfo | None:
    """``zyn_strict_<charset>``: <charset> that decodes strictly even when asked for errors="replace",
    as Django's multipart parser asks. So the multipart check is Django's own parsing (field names,
    base64 parts), only strict."""
    if not name.startswith(STRICT_PREFIX):
        return None
    base = codecs.lookup(name.removeprefix(STRICT_PREFIX))
    return codecs.CodecInfo(
        name=name,
        encode=base.encode,
        decode=lambda data, errors="strict": base.decode(data, "strict"),
    )


codecs.register(_strict_codec)


def form_text_problem(request: HttpRequest) -> str | None:
    """Why this request's form cannot be read as text exactly as it was sent, or None."""
    if request.method != "POST" or request.path_info.startswith(API_PREFIX):
        return None
    if request.content_type not in (URLENCODED, MULTIPART):
        return None
    body = request.body  # Django reads it whole for either kind of form anyway
    # The charset Django decodes with: the one the request declares, else UTF-8.
    charset = request.encoding or settings.DEFAULT_CHARSET
    try:
        if request.content_type == MULTIPART:
            handlers = [
                load_handler(h, request) for h in settings.FILE_UPLOAD_HANDLERS
            ]  # fresh: parsed twice
            MultiPartParser(request.META, BytesIO(body), handlers, STRICT_PREFIX + charset).parse()
        else:
            body.decode(charset)  # raw bytes: a misbehaving client's unescaped text
            # ASCII delimiters (& = +) never make a bad sequence good, so the whole body decodes exactly
            # when every field does. Most bodies have no escaped byte ≥ 0x80: no need to unescape them.
            if _ESCAPED_HIGH_BYTE.search(body):
                unquote_to_bytes(body).decode(charset)
    except UnicodeDecodeError:
        return f"The form's text is not valid {charset.upper()}, so it cannot be stored as it was sent."
    return None


class Utf8FormMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = form_text_problem(request)
        if problem:
            return render(request, "400.html", {"reason": problem}, status=400)
        return self.get_response(request)

"""Regenerate docs/screenshots/ of the session list and detail pages in real Chromium.

Serves the current database on a local port for the duration of the command, signs in as an
existing operator (no password needed: the session is created server-side), and captures the
pages at desktop (1280 px) and phone (390 px) width, light and dark.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.test.testcases import LiveServerThread

from sessions_app.models import Session, SessionEvent
from sessions_app.services import transfer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]
SEARCH_WORDS = "Safari"  # in one of the demo subjects (sessions_app/demo.py): a search with snippets
SHOTS = [
    # (file name, page, viewport width, height, colour scheme, full page)
    ("list-1280.png", "list", 1280, 900, "light", False),
    ("list-1280-dark.png", "list", 1280, 900, "dark", False),
    ("list-phone.png", "list", 390, 844, "light", False),
    ("list-search-1280.png", "search", 1280, 900, "light", False),
    ("detail-1280.png", "detail", 1280, 1000, "light", False),
    ("detail-1280-dark.png", "detail", 1280, 1000, "dark", False),
    ("detail-phone.png", "detail", 390, 844, "light", False),
    ("detail-truncate-preview-1280.png", "preview", 1280, 800, "light", False),
    ("detail-truncate-preview-phone.png", "preview", 390, 844, "light", False),
    ("detail-conflict-1280.png", "conflict", 1280, 800, "light", False),
    ("history-restore-1280.png", "restore", 1280, 800, "light", False),
    ("history-diff-1280.png", "history", 1280, 800, "light", False),
    ("import-preview-1280.png", "import", 1280, 800, "light", False),
    # Last: it writes (a move, then its Undo), which the shots above must not show.
    ("detail-saved-notice-1280.png", "saved", 1280, 800, "light", False),
]


class Command(BaseCommand):
    help = "Regenerate screenshots of the list and detail pages into docs/screenshots/ (needs Chromium)."

    def add_arguments(self, parser):  # noqa: ANN001
        parser.add_argument("--out", default=str(Path(settings.BASE_DIR) / "docs" / "screenshots"))
        parser.add_argument("--port", type=int, default=8150)
        parser.add_argument("--username", default="", help="operator to sign in as (default: a superuser)")
        parser.add_argument(
            "--session", default="", help="session id for the detail page (default: a busy one)"
        )

    def handle(self, *args: object, **options: object) -> None:
        if not os.path.exists(CHROMIUM):
            raise CommandError(f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
        user = self._user(str(options["username"]))
        session = self._session(str(options["session"]))
        out = Path(str(options["out"]))
        out.mkdir(parents=True, exist_ok=True)
        # The browser talks to a real server; the ORM calls here stay synchronous.
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value

        server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=int(options["port"]))
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise CommandError(f"could not serve on port {options['port']}: {server.error}")
        base = f"http://127.0.0.1:{server.port}"
        try:
            self._capture(base, cookie, session, out)
        finally:
            server.terminate()

    def _user(self, username: str):  # noqa: ANN202
        users = get_user_model().objects.filter(is_active=True)
        user = (
            users.filter(username=username).first() if username else users.filter(is_superuser=True).first()
        )
        if user is None:
            raise CommandError("no such operator: run `manage.py ensure_operator` or pass --username")
        return user

    def _session(self, session_id: str) -> Session:
        if session_id:
            found = Session.objects.filter(pk=session_id).first()
        else:
            # A session with usage to chart and more than one window of messages, if there is one.
            found = (
                Session.objects.filter(usage_total__isnull=False, message_count__lte=400)
                .order_by("-message_count")
                .first()
                or Session.objects.order_by("-message_count").first()
            )
        if found is None:
            raise CommandError("no sessions to show: run `manage.py seed_demo` first")
        return found

    def _capture(self, base: str, cookie: str, session: Session, out: Path) -> None:
        from playwright.sync_api import sync_playwright

        detail = f"{base}/sessions/{session.pk}/"
        import_file = self._import_file()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, which, width, height, scheme, full in SHOTS:
                context = browser.new_context(
                    viewport={"width": width, "height": height}, color_scheme=scheme, device_scale_factor=1
                )
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": cookie,
                            "domain": "127.0.0.1",
                            "path": "/",
                        }
                    ]
                )
                page = context.new_page()
                page.goto(
                    {
                        "list": f"{base}/",
                        "search": f"{base}/?{urlencode({'q': SEARCH_WORDS})}",
                        "restore": f"{detail}history/v{max(0, session.version - 2)}/restore/",
                        "history": f"{base}/sessions/{self._edited(session).pk}/history/",
                        "import": f"{base}/import/",
                    }.get(which, detail)
                )
                if which == "preview":
                    page.click("summary:has-text('Truncate or prune')")
                    page.fill("input[name=keep_first]", "1")
                    page.fill("input[name=keep_last]", "4")
                    page.click("button:has-text('Preview truncate')")
                    page.wait_for_selector("#bulk-preview .preview-summary")
                    # The preview scrolls its confirm button into view (static/sessions_app/app.js).
                    page.wait_for_function(
                        "() => { const end = document.querySelector("
                        "'#bulk-preview form, #bulk-preview .muted');"
                        " return end.getBoundingClientRect().bottom <= innerHeight + 1; }"
                    )
                elif which == "history" and page.locator(".word-diff").count():
                    page.locator(".word-diff").first.scroll_into_view_if_needed()
                elif which == "conflict" and session.version > 0 and session.message_count > 1:
                    self._conflict(page)
                elif which == "import":
                    # Only the preview: it writes nothing.
                    page.set_input_files(
                        "#import-file",
                        files=[
                            {
                                "name": "sessions.jsonl",
                                "mimeType": "application/x-ndjson",
                                "buffer": import_file,
                            }
                        ],
                    )
                    page.click("button[value=preview]")
                    page.wait_for_selector("#import-preview .import-summary")
                saved = which == "saved" and session.message_count > 1
                if saved:
                    self._saved(page)
                page.screenshot(path=str(out / name), full_page=full)
                if saved:
                    self._undo(page)
                context.close()
                self.stdout.write(f"wrote {out / name}")
            browser.close()

    @staticmethod
    def _edited(session: Session) -> Session:
        """``session``, or else the session edited last: the history shot shows an edit as a word diff."""
        edits = SessionEvent.objects.filter(op="replace")
        if edits.filter(session=session).exists():
            return session
        last = edits.order_by("-created_at").select_related("session").first()
        return last.session if last else session

    @staticmethod
    def _saved(page) -> None:  # noqa: ANN001
        """A write's notice: message #1 moved down a place with its ↓ button (a real write, undone after the
        shot by the notice's Undo, so the session's messages and usage end as they were; its history keeps
        both versions, like any undo)."""
        page.locator("#message-1 button[aria-label$=' down']").click()
        page.wait_for_selector("#notices .notice")

    @staticmethod
    def _undo(page) -> None:  # noqa: ANN001
        page.locator("#notices .notice button", has_text="Undo").click()
        page.wait_for_selector("#notices .notice .notice-words >> text=Restored version")

    @staticmethod
    def _import_file() -> bytes:
        """A JSONL export of up to eight sessions of this database, all but the first without their ids:
        the preview shows new sessions and one whose id exists here (offered as a new session)."""
        ids = list(Session.objects.order_by("-updated_at").values_list("pk", flat=True)[:8])
        lines = []
        for i, line in enumerate("".join(transfer.export_lines(ids, "jsonl")).splitlines()):
            record = json.loads(line)
            if i:
                del record["id"]
            lines.append(json.dumps(record, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode()

    @staticmethod
    def _conflict(page) -> None:  # noqa: ANN001
        """An edit saved from a page one version behind: the 409 keeps the typed text. Nothing is written
        (the page claims the version before the current one, so the server refuses the save)."""
        row = page.locator("li.msg").nth(1)
        row.locator("a[data-mode=edit]").click()
        editor = row.locator("textarea[name=content]")
        editor.fill("My rewrite of this message, typed while someone else changed the session.")
        page.evaluate(
            """() => { const d = document.getElementById('session-detail');
                       const older = String(Number(d.dataset.version) - 1);
                       d.dataset.version = older;
                       const fields = document.querySelectorAll('input[name=expected_version]');
                       for (const field of fields) field.value = older;
                     }"""
        )
        row.locator("form.editor button[type=submit]").click()
        page.wait_for_selector(".conflict-edit")

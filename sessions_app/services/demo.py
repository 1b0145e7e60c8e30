"""Realistic demo conversations shaped like the ones zyn synapses produce."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable

from sessions_app import models
from sessions_app.domain.errors import SessionError
from sessions_app.domain.types import Message, TokenUsage
from sessions_app.services import SessionService

Program = tuple[str, str, list[str] | None]  # (name, kind of answer, labels)

PROGRAMS = [
    ("ticket-triage", "classification", ["billing", "bug", "feature-request", "account", "outage"]),
    ("refund-gate", "binary", None),
    ("invoice-extractor", "extraction", None),
    ("review-sentiment", "sentiment", None),
    ("support-router", "classification", ["tier-1", "tier-2", "engineering", "sales"]),
    ("lead-ranker", "ranking", None),
]
SUBJECTS = [
    "I was charged twice for my March subscription and the second charge is still pending.",
    "The export button does nothing on Safari 17, console shows a CORS error.",
    "Can we get SSO with Okta on the team plan?",
    "Password reset emails never arrive for our domain @northwind.example.",
    "API latency spiked to 4s at 14:05 UTC, status page says all green.",
    "Please cancel my account and delete all my data under GDPR.",
    "Invoice INV-20931 from Acme Corp, total 1,284.50 EUR, due 2026-12-01.",
    "The new dashboard is fantastic, but dark mode contrast on charts is poor.",
    "Order #88213 arrived damaged; the box was crushed and two mugs broke.",
    "Our webhook receiver gets duplicate events with the same idempotency key.",
]
SYSTEM_PROMPT = (
    "You are a careful assistant inside an automated pipeline. Answer ONLY with JSON that "
    "matches the schema given in each task. Never include prose outside the JSON object."
)


def _prompt(kind: str, subject: str, labels: list[str] | None) -> str:
    task = {
        "classification": f"Classify the input into one of: {', '.join(labels or [])}.",
        "binary": "Decide whether this request qualifies for an automatic refund.",
        "extraction": "Extract vendor, invoice number, total, currency and due date.",
        "sentiment": "Analyse the sentiment of the input.",
        "ranking": "Rank the input's urgency from 1 (low) to 5 (critical).",
    }[kind]
    schema = json.dumps(_schema(kind, labels), indent=2)
    return f"Task: {task}\n\nInput: {subject}\n\nResponse JSON Schema:\n{schema}\n\nRespond with JSON only."


def _schema(kind: str, labels: list[str] | None) -> dict:
    """The JSON Schema a synapse renders into its prompt for the answer's shape."""
    number = {"type": "number", "minimum": 0, "maximum": 1}
    reasons = {"type": "array", "items": {"type": "string"}}
    properties: dict[str, dict] = {
        "classification": {
            "primary": {"type": "string", "enum": labels or []},
            "secondary": {"type": "string", "enum": labels or []},
            "confidence": number,
            "reasoning": reasons,
        },
        "binary": {"decision": {"type": "boolean"}, "confidence": number, "reasoning": reasons},
        "extraction": {
            "vendor": {"type": "string"},
            "invoice_number": {"type": "string"},
            "total": {"type": "number"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "due_date": {"type": "string", "format": "date"},
            "confidence": number,
        },
        "sentiment": {
            "overall": {"type": "string", "enum": ["positive", "negative", "neutral"]},
            "confidence": number,
            "scores": {"type": "object", "additionalProperties": number},
            "emotions": reasons,
        },
        "ranking": {
            "urgency": {"type": "integer", "minimum": 1, "maximum": 5},
            "confidence": number,
            "reasoning": reasons,
        },
    }[kind]
    return {"type": "object", "properties": properties, "required": list(properties)[:2]}


def _answer(kind: str, subject: str, labels: list[str] | None, rng: random.Random) -> str:
    confidence = round(rng.uniform(0.55, 0.99), 2)
    if kind == "classification":
        primary, secondary = rng.sample(labels or ["other", "misc"], 2)
        body = {
            "primary": primary,
            "secondary": secondary,
            "confidence": confidence,
            "reasoning": [f"mentions {subject.split()[1].lower()}", f"closest to {primary} examples"],
        }
    elif kind == "binary":
        body = {
            "decision": rng.random() < 0.6,
            "confidence": confidence,
            "reasoning": ["amount under auto-approve limit", "customer in good standing"],
        }
    elif kind == "extraction":
        body = {
            "vendor": "Acme Corp",
            "invoice_number": f"INV-{rng.randint(10000, 99999)}",
            "total": round(rng.uniform(50, 5000), 2),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "due_date": f"2026-12-{rng.randint(1, 28):02d}",
            "confidence": confidence,
        }
    elif kind == "sentiment":
        pos = round(rng.random(), 2)
        body = {
            "overall": "positive" if pos > 0.5 else "negative",
            "confidence": confidence,
            "scores": {"positive": pos, "negative": round(1 - pos, 2), "neutral": 0.0},
            "emotions": rng.sample(["joy", "frustration", "trust", "surprise", "anger"], 2),
        }
    else:
        body = {
            "urgency": rng.randint(1, 5),
            "confidence": confidence,
            "reasoning": ["customer impact stated"],
        }
    return json.dumps(body, indent=2 if rng.random() < 0.3 else None)


def _reviewed(answer: str) -> str:
    return re.sub(r'"confidence": [0-9.]+', '"confidence": 1.0, "reviewed_by": "operator"', answer, count=1)


def _usage(rng: random.Random) -> TokenUsage:
    prompt, completion = rng.randint(120, 900), rng.randint(20, 240)
    return TokenUsage(prompt=prompt, completion=completion, total=prompt + completion)


def exchange(rng: random.Random, program: Program) -> tuple[str, str, TokenUsage]:
    _, kind, labels = program
    subject = rng.choice(SUBJECTS)
    return _prompt(kind, subject, labels), _answer(kind, subject, labels, rng), _usage(rng)


def seed(count: int = 20, big: int = 10_000, seed_value: int = 7, progress=None) -> list[SessionService]:  # noqa: ANN001
    rng = random.Random(seed_value)
    sizes = [rng.choice([2, 4, 6, 10, 16, 30, 60, 120]) for _ in range(count - 1)]
    made: list[SessionService] = []
    for i, exchanges in enumerate(sizes):
        program = PROGRAMS[i % len(PROGRAMS)]
        s = SessionService.new(
            name=f"{program[0]} #{1000 + i}",
            metadata={
                "program": program[0],
                "user_id": f"u-{rng.randint(100, 999)}",
                "env": "demo",
                "demo": True,
            },
        )
        s.append("system", SYSTEM_PROMPT, actor="system")
        for _ in range(exchanges // 2):
            prompt, answer, usage = exchange(rng, program)
            s.record_exchange(prompt, answer, usage, actor=f"api:{program[0]}")
        if exchanges >= 4:
            # A person checked the last answer: the history shows an edit as a word diff.
            last = s.len() - 1
            s.replace(last, Message("assistant", _reviewed(s.at(last).content)), actor="operator")
        made.append(s)
        if progress:
            progress(1)
    program = PROGRAMS[0]
    s = SessionService.new(
        name=f"{program[0]} long-running",
        metadata={"program": program[0], "user_id": "u-batch", "env": "demo", "demo": True},
    )
    history = [Message("system", SYSTEM_PROMPT)]
    while len(history) < big - 40:
        prompt, answer, _ = exchange(rng, program)
        history += [Message("user", prompt), Message("assistant", answer)]
    s.set_messages(history[: big - 40], actor="system")
    for _ in range(20):
        prompt, answer, usage = exchange(rng, program)
        s.record_exchange(prompt, answer, usage, actor=f"api:{program[0]}")
    made.append(s)
    if progress:
        progress(1)
    return made


def has_demo_data() -> bool:
    return models.Session.objects.filter(metadata__demo=True).exists()


def simulated_sessions(count: int, rng: random.Random) -> list[tuple[SessionService, Program]]:
    """``count`` new sessions for simulate(), each with a program and that program's system prompt."""
    made = []
    for i in range(count):
        program = PROGRAMS[i % len(PROGRAMS)]
        s = SessionService.new(
            name=f"{program[0]} (simulated #{i + 1})",
            metadata={"program": program[0], "env": "simulate", "user_id": f"u-{rng.randint(100, 999)}"},
        )
        s.append("system", SYSTEM_PROMPT, actor="system")
        made.append((s, program))
    return made


def simulate(
    targets: list[tuple[SessionService, Program]],
    rate: float,
    duration: float,
    rng: random.Random,
    *,
    progress: Callable[[int], None] | None = None,
    on_failure: Callable[[str], None] | None = None,
) -> int:
    """Record ``rate * duration`` exchanges, ``rate`` per second, round-robin over ``targets``, as their
    programs would. Returns how many writes failed (e.g. the session was deleted meanwhile)."""
    total = int(rate * duration)
    started = time.perf_counter()
    failed = 0
    for i in range(total):
        # Paced against the start time, so a slow write is caught up instead of drifting.
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        session, program = targets[i % len(targets)]
        prompt, answer, usage = exchange(rng, program)
        try:
            session.record_exchange(prompt, answer, usage, actor=f"api:{program[0]}")
        except SessionError as exc:
            failed += 1
            if on_failure is not None:
                on_failure(f"write to {session.id} failed: {exc}")
        if progress is not None:
            progress(1)
    return failed

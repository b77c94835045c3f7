"""The live classroom's records: classes, students and submissions as read back from the database, checked field
by field; join codes, tokens, codes and drawings validated before they are stored."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import BadSubmission, ClassError

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
MAX_LATENT = 64
SIDE = 28
GUESS_NOT_A_DIGIT = -1
STATES = ("open", "locked", "ended")
ACTIVITIES = ("none", "predict", "circle")
ADJECTIVES = ("Blue", "Green", "Red", "Gold", "Silver", "Quick", "Calm", "Brave", "Bright", "Kind", "Lucky", "Happy",
              "Swift", "Clever", "Gentle", "Bold", "Sunny", "Misty", "Cosmic", "Tiny")
ANIMALS = ("Otter", "Tiger", "Falcon", "Panda", "Koala", "Dolphin", "Heron", "Lynx", "Yak", "Peacock", "Gecko",
           "Bison", "Owl", "Fox", "Crane", "Rhino", "Mongoose", "Parrot", "Turtle", "Elephant")


# The database's tables (created on first use by ClassStore).
SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, secret_hash TEXT NOT NULL, run TEXT NOT NULL,
    state TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, ended REAL,
    activity TEXT NOT NULL DEFAULT 'none', round INTEGER NOT NULL DEFAULT 0, revealed INTEGER NOT NULL DEFAULT 0,
    star TEXT, circle_x REAL, circle_y REAL, circle_r REAL);
CREATE TABLE IF NOT EXISTS joins (
    id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, joined REAL NOT NULL, last_submit REAL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    join_id INTEGER NOT NULL REFERENCES joins(id) ON DELETE CASCADE, created REAL NOT NULL,
    pixels BLOB NOT NULL, code TEXT NOT NULL, activity TEXT NOT NULL, round INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS submissions_class ON submissions(class_id, id);
CREATE TABLE IF NOT EXISTS guesses (
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE, round INTEGER NOT NULL,
    join_id INTEGER NOT NULL REFERENCES joins(id) ON DELETE CASCADE, guess INTEGER NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (class_id, round, join_id));
CREATE TABLE IF NOT EXISTS code_failures (ts REAL NOT NULL);
"""


def hash_token(token: str) -> str:
    """What the database keeps of a teacher key or student token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_code(raw: object) -> str | None:
    """A join code as typed ('abc-234 ', 'ABC234') in canonical form, or None when it can't be one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    code = "".join(ch for ch in raw.upper() if ch not in " -_")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def valid_token(raw: object) -> str | None:
    """A token from an address if it can be one (16–64 URL-safe characters), else None."""
    return raw if isinstance(raw, str) and 16 <= len(raw) <= 64 and raw.isascii() and raw.replace("-", "").replace(
        "_", "").isalnum() else None


@dataclass(frozen=True)
class ClassInfo:
    """One class as stored (never its teacher key)."""

    id: int
    code: str
    run: str
    state: str
    created: float
    expires: float
    activity: str
    round: int
    revealed: bool
    star: tuple[float, ...] | None
    circle: tuple[float, float, float] | None


@dataclass(frozen=True)
class Student:
    """A student who joined a class: a random name, no personal data."""

    id: int
    class_id: int
    name: str
    last_submit: float | None


@dataclass(frozen=True)
class Submission:
    """One drawing: its 28×28 binary input, its code (μ), when, by whom, in which activity round."""

    id: int
    join_id: int
    name: str
    created: float
    code: tuple[float, ...]
    activity: str
    round: int
    pixels: np.ndarray | None = None


def class_from_row(row: Sequence) -> ClassInfo:
    """A classes row, checked field by field (a damaged row raises ClassError)."""
    (cid, code, run, state, created, expires, activity, rnd, revealed, star, cx, cy, cr) = row
    if not (isinstance(cid, int) and isinstance(code, str) and isinstance(run, str) and state in STATES
            and isinstance(created, (int, float)) and isinstance(expires, (int, float)) and activity in ACTIVITIES
            and isinstance(rnd, int) and revealed in (0, 1)):
        raise ClassError("a class record in the classroom database is damaged")
    star_code = parse_code(star) if star is not None else None
    circle = (float(cx), float(cy), float(cr)) if all(isinstance(v, (int, float)) for v in (cx, cy, cr)) else None
    return ClassInfo(cid, code, run, state, float(created), float(expires), activity, rnd, bool(revealed),
                     star_code, circle)


def parse_code(text: object) -> tuple[float, ...]:
    try:
        values = json.loads(text) if isinstance(text, str) and len(text) < 4096 else None
    except ValueError:
        values = None
    if (not isinstance(values, list) or not 1 <= len(values) <= MAX_LATENT
            or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
        raise ClassError("a latent code in the classroom database is damaged")
    return tuple(float(v) for v in values)


def check_code(code: Sequence[float]) -> tuple[float, ...]:
    """A latent code from the page: 1–64 finite numbers within ±1000, else BadSubmission."""
    try:
        values = tuple(float(v) for v in code)
    except (TypeError, ValueError):
        raise BadSubmission("the code is not a list of numbers", field="code") from None
    if not 1 <= len(values) <= MAX_LATENT or not all(math.isfinite(v) and abs(v) <= 1000 for v in values):
        raise BadSubmission(f"the code must be 1–{MAX_LATENT} finite numbers within ±1000", field="code")
    return values


def check_pixels(pixels: object) -> bytes:
    """A 28×28 binary image (values 0/1) as 784 bytes, else BadSubmission."""
    arr = np.asarray(pixels)
    if arr.shape != (SIDE, SIDE) or arr.dtype.kind not in "biuf":
        raise BadSubmission(f"the drawing must be {SIDE}×{SIDE} (got {arr.shape})", field="pixels")
    if not np.isin(arr, (0, 1)).all():
        raise BadSubmission("the drawing must be binary (0/1)", field="pixels")
    return arr.astype(np.uint8).tobytes()


def pixels_from_blob(blob: object) -> np.ndarray:
    if not isinstance(blob, bytes) or len(blob) != SIDE * SIDE:
        raise ClassError("a drawing in the classroom database is damaged")
    arr = np.frombuffer(blob, np.uint8).reshape(SIDE, SIDE)
    if arr.max(initial=0) > 1:
        raise ClassError("a drawing in the classroom database is damaged")
    return arr.astype(np.float32)


def in_circle(xy: Sequence[float], circle: tuple[float, float, float] | None) -> bool:
    """True when map position xy lies in the circle (x, y, r)."""
    if circle is None:
        return False
    return (xy[0] - circle[0]) ** 2 + (xy[1] - circle[1]) ** 2 <= circle[2] ** 2

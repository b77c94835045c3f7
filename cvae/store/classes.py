"""The live classroom's shared state: classes, joins, submissions and guesses in one SQLite file (WAL mode).

The database is the source of truth across browser sessions and server restarts (no module globals hold class
state). Every statement is parametrised; everything read back is checked field by field. Nothing personal is
stored: a student is a random token and a random display name.

Join codes: 6 characters from a 31-letter alphabet (no 0/O, 1/I/L) = 31⁶ ≈ 8.9·10⁸ codes; at most
CODE_FAILURES_PER_MINUTE wrong (well-formed) codes are looked up per minute, server-wide, so finding one of 10 open
classes by guessing takes on average 31⁶ / (2 · 10 · 30) minutes ≈ 2.8 years.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import os
import secrets
import sqlite3
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import (BadSubmission, ClassEnded, ClassError, ClassFull, ClassLocked, ClassNotFound, NotTeacher,
                     RateLimited)
from .runs import runs_root

DB_FILE = "classroom.sqlite3"
DB_ENV = "CVAE_CLASSROOM_DB"
TTL_ENV = "CVAE_CLASS_HOURS"
DEFAULT_TTL_HOURS = 4.0
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
CODE_FAILURES_PER_MINUTE = 30
SUBMIT_INTERVAL = 3.0  # seconds between two submissions of one student
MAX_SUBMISSIONS = 2000  # per class
MAX_STUDENTS = 200  # per class
MAX_LATENT = 64
SIDE = 28
GUESS_NOT_A_DIGIT = -1
ENDED_KEEP_SECONDS = 24 * 3600  # an ended class's one-line "has ended" row is kept this long, then purged
STATES = ("open", "locked", "ended")
ACTIVITIES = ("none", "predict", "circle")

ADJECTIVES = ("Blue", "Green", "Red", "Gold", "Silver", "Quick", "Calm", "Brave", "Bright", "Kind", "Lucky", "Happy",
              "Swift", "Clever", "Gentle", "Bold", "Sunny", "Misty", "Cosmic", "Tiny")
ANIMALS = ("Otter", "Tiger", "Falcon", "Panda", "Koala", "Dolphin", "Heron", "Lynx", "Yak", "Peacock", "Gecko",
           "Bison", "Owl", "Fox", "Crane", "Rhino", "Mongoose", "Parrot", "Turtle", "Elephant")

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


def db_path(root: str | os.PathLike | None = None) -> Path:
    """$CVAE_CLASSROOM_DB, else classroom.sqlite3 in the runs root."""
    return Path(os.environ.get(DB_ENV) or runs_root(root) / DB_FILE)


def ttl_seconds() -> float:
    """How long a class lives: $CVAE_CLASS_HOURS (0.01–72; default 4) in seconds."""
    try:
        hours = float(os.environ.get(TTL_ENV, DEFAULT_TTL_HOURS))
    except ValueError:
        hours = DEFAULT_TTL_HOURS
    if not math.isfinite(hours) or not 0.01 <= hours <= 72:
        hours = DEFAULT_TTL_HOURS
    return hours * 3600.0


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_code(raw: object) -> str | None:
    """A join code as typed ('abc-234 ', 'ABC234') in canonical form, or None when it can't be one."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    code = "".join(ch for ch in raw.upper() if ch not in " -_")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def _valid_token(raw: object) -> str | None:
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


def _class_from_row(row: Sequence) -> ClassInfo:
    """A classes row, checked field by field (a damaged row raises ClassError)."""
    (cid, code, run, state, created, expires, activity, rnd, revealed, star, cx, cy, cr) = row
    if not (isinstance(cid, int) and isinstance(code, str) and isinstance(run, str) and state in STATES
            and isinstance(created, (int, float)) and isinstance(expires, (int, float)) and activity in ACTIVITIES
            and isinstance(rnd, int) and revealed in (0, 1)):
        raise ClassError("a class record in the classroom database is damaged")
    star_code = _parse_code(star) if star is not None else None
    circle = (float(cx), float(cy), float(cr)) if all(isinstance(v, (int, float)) for v in (cx, cy, cr)) else None
    return ClassInfo(cid, code, run, state, float(created), float(expires), activity, rnd, bool(revealed),
                     star_code, circle)


def _parse_code(text: object) -> tuple[float, ...]:
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


def _pixels_from_blob(blob: object) -> np.ndarray:
    if not isinstance(blob, bytes) or len(blob) != SIDE * SIDE:
        raise ClassError("a drawing in the classroom database is damaged")
    arr = np.frombuffer(blob, np.uint8).reshape(SIDE, SIDE)
    if arr.max(initial=0) > 1:
        raise ClassError("a drawing in the classroom database is damaged")
    return arr.astype(np.float32)


_CLASS_COLUMNS = "id, code, run, state, created, expires, activity, round, revealed, star, circle_x, circle_y, circle_r"


class ClassStore:
    """The classroom database at `path` (created on first use; WAL journal)."""

    def __init__(self, path: str | os.PathLike | None = None, clock=time.time):
        self.path = Path(path) if path is not None else db_path()
        self.clock = clock
        self._ready = False

    # ------------------------------------------------------------------------------------------ plumbing

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection (one per call: Streamlit runs sessions in threads); write=True holds the write lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 10000")
            if not self._ready:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise ClassError(f"the classroom database could not use WAL mode (got {mode})")
                conn.executescript(SCHEMA)
                self._ready = True
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def journal_mode(self) -> str:
        """The database's journal mode ('wal')."""
        with self._db() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        """Expired classes end (their data deleted); ended rows older than a day go; old code failures go."""
        expired = [r[0] for r in conn.execute(
            "SELECT id FROM classes WHERE state != 'ended' AND expires <= ?", (now,))]
        for cid in expired:
            self._delete_data(conn, cid)
            conn.execute("UPDATE classes SET state = 'ended', ended = ? WHERE id = ?", (now, cid))
        conn.execute("DELETE FROM classes WHERE state = 'ended' AND ended < ?", (now - ENDED_KEEP_SECONDS,))
        conn.execute("DELETE FROM code_failures WHERE ts < ?", (now - 60.0,))

    @staticmethod
    def _delete_data(conn: sqlite3.Connection, cid: int) -> None:
        conn.execute("DELETE FROM guesses WHERE class_id = ?", (cid,))
        conn.execute("DELETE FROM submissions WHERE class_id = ?", (cid,))
        conn.execute("DELETE FROM joins WHERE class_id = ?", (cid,))

    @staticmethod
    def _class(conn: sqlite3.Connection, where: str, args: tuple) -> ClassInfo | None:
        row = conn.execute(f"SELECT {_CLASS_COLUMNS} FROM classes WHERE {where}", args).fetchone()
        return _class_from_row(row) if row else None

    def _teacher(self, conn: sqlite3.Connection, code: str, secret: str) -> ClassInfo:
        """The class if `secret` is its teacher key, else NotTeacher (ended classes: ClassEnded)."""
        code_n = normalise_code(code)
        row = conn.execute("SELECT id, secret_hash FROM classes WHERE code = ?", (code_n,)).fetchone() \
            if code_n else None
        if row is None or not isinstance(secret, str) or not hmac.compare_digest(row[1], _hash(secret)):
            raise NotTeacher("this address has no valid teacher key for that class", code_n)
        info = self._class(conn, "id = ?", (row[0],))
        if info.state == "ended":
            raise ClassEnded("this class has ended", info.code)
        return info

    # ------------------------------------------------------------------------------------------ classes

    def create_class(self, run: str, ttl: float | None = None) -> tuple[ClassInfo, str]:
        """A new open class for run `run`: (its info, the teacher key — shown once, stored only hashed)."""
        if not isinstance(run, str) or not 1 <= len(run) <= 200:
            raise ClassError("a class needs the name of a run")
        now = self.clock()
        ttl = ttl_seconds() if ttl is None else float(ttl)
        secret = secrets.token_urlsafe(24)
        with self._db(write=True) as conn:
            self._purge(conn, now)
            for _attempt in range(20):
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
                try:
                    cur = conn.execute(
                        "INSERT INTO classes (code, secret_hash, run, state, created, expires) VALUES (?, ?, ?, 'open', ?, ?)",
                        (code, _hash(secret), run, now, now + ttl))
                    break
                except sqlite3.IntegrityError:
                    continue
            else:
                raise ClassError("could not find a free join code")
            return self._class(conn, "id = ?", (cur.lastrowid,)), secret

    def find(self, raw_code: object) -> ClassInfo:
        """The class a student's code names (open, locked or just ended); ClassNotFound / RateLimited otherwise.

        Well-formed codes that match nothing count against the server-wide limit (CODE_FAILURES_PER_MINUTE)."""
        code = normalise_code(raw_code)
        if code is None:
            raise ClassNotFound(f"a join code is {CODE_LENGTH} letters and digits")
        now = self.clock()
        with self._db(write=True) as conn:
            self._purge(conn, now)
            failures = conn.execute("SELECT COUNT(*) FROM code_failures WHERE ts > ?", (now - 60.0,)).fetchone()[0]
            if failures >= CODE_FAILURES_PER_MINUTE:
                raise RateLimited("too many wrong join codes were tried: wait a minute and try again", code, 60.0)
            info = self._class(conn, "code = ?", (code,))
            if info is None:  # recorded (committed) before the refusal is raised
                conn.execute("INSERT INTO code_failures (ts) VALUES (?)", (now,))
        if info is None:
            raise ClassNotFound(f"no class has the code {code}", code)
        return info

    def teacher_class(self, code: str, secret: str) -> ClassInfo:
        """The class, for its teacher (NotTeacher without the right key; ClassEnded once ended)."""
        with self._db(write=True) as conn:
            self._purge(conn, self.clock())
            return self._teacher(conn, code, secret)

    def set_locked(self, code: str, secret: str, locked: bool) -> ClassInfo:
        """Lock (no new submissions) or reopen the class."""
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            conn.execute("UPDATE classes SET state = ? WHERE id = ?", ("locked" if locked else "open", info.id))
            return self._class(conn, "id = ?", (info.id,))

    def clear(self, code: str, secret: str) -> int:
        """Delete the class's submissions and guesses (students stay joined); how many submissions went."""
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            n = conn.execute("SELECT COUNT(*) FROM submissions WHERE class_id = ?", (info.id,)).fetchone()[0]
            conn.execute("DELETE FROM guesses WHERE class_id = ?", (info.id,))
            conn.execute("DELETE FROM submissions WHERE class_id = ?", (info.id,))
            return int(n)

    def end(self, code: str, secret: str) -> None:
        """End the class: every join, submission and guess is deleted; the code then says 'ended'."""
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            self._delete_data(conn, info.id)
            conn.execute("UPDATE classes SET state = 'ended', ended = ?, activity = 'none' WHERE id = ?",
                         (self.clock(), info.id))

    def start_predict(self, code: str, secret: str, star: Sequence[float]) -> ClassInfo:
        """A new predict-then-reveal round with the ★ at latent code `star`."""
        star = check_code(star)
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            conn.execute("UPDATE classes SET activity = 'predict', round = round + 1, revealed = 0, star = ? "
                         "WHERE id = ?", (json.dumps(list(star)), info.id))
            return self._class(conn, "id = ?", (info.id,))

    def reveal(self, code: str, secret: str) -> ClassInfo:
        """Reveal the current predict round (guesses close)."""
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            if info.activity != "predict":
                raise ClassError("there is no prediction to reveal", info.code)
            conn.execute("UPDATE classes SET revealed = 1 WHERE id = ?", (info.id,))
            return self._class(conn, "id = ?", (info.id,))

    def start_circle(self, code: str, secret: str, x: float, y: float, r: float) -> ClassInfo:
        """A new 'land in the circle' round: centre (x, y) and radius r in map coordinates."""
        x, y, r = check_code((x, y, r))
        if r <= 0:
            raise BadSubmission("the circle's radius must be positive", field="r")
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            conn.execute("UPDATE classes SET activity = 'circle', round = round + 1, revealed = 0, circle_x = ?, "
                         "circle_y = ?, circle_r = ? WHERE id = ?", (x, y, r, info.id))
            return self._class(conn, "id = ?", (info.id,))

    def stop_activity(self, code: str, secret: str) -> ClassInfo:
        """Back to free drawing."""
        with self._db(write=True) as conn:
            info = self._teacher(conn, code, secret)
            conn.execute("UPDATE classes SET activity = 'none' WHERE id = ?", (info.id,))
            return self._class(conn, "id = ?", (info.id,))

    # ------------------------------------------------------------------------------------------ students

    def join(self, raw_code: object) -> tuple[Student, str, ClassInfo]:
        """Join an open or locked class: (the student, their token — kept only by their browser, the class)."""
        info = self.find(raw_code)
        if info.state == "ended":
            raise ClassEnded("this class has ended", info.code)
        token = secrets.token_urlsafe(18)
        name = f"{secrets.choice(ADJECTIVES)} {secrets.choice(ANIMALS)} {secrets.randbelow(90) + 10}"
        now = self.clock()
        with self._db(write=True) as conn:
            n = conn.execute("SELECT COUNT(*) FROM joins WHERE class_id = ?", (info.id,)).fetchone()[0]
            if n >= MAX_STUDENTS:
                raise ClassFull(f"this class is full ({MAX_STUDENTS} students)", info.code, "students",
                                MAX_STUDENTS)
            cur = conn.execute("INSERT INTO joins (class_id, token_hash, name, joined) VALUES (?, ?, ?, ?)",
                               (info.id, _hash(token), name, now))
            return Student(cur.lastrowid, info.id, name, None), token, info

    def student(self, token: object) -> tuple[Student, ClassInfo]:
        """The student holding `token` and their class (ClassNotFound if unknown; ClassEnded once it ended)."""
        tok = _valid_token(token)
        now = self.clock()
        with self._db(write=True) as conn:
            self._purge(conn, now)
            row = conn.execute("SELECT id, class_id, name, last_submit FROM joins WHERE token_hash = ?",
                               (_hash(tok),)).fetchone() if tok else None
            if row is None:
                raise ClassNotFound("this student link is not part of an open class")
            info = self._class(conn, "id = ?", (row[1],))
            return Student(row[0], row[1], str(row[2]), row[3]), info

    def submit(self, token: object, pixels: object, code: Sequence[float]) -> Submission:
        """Store a student's drawing (28×28 binary) and its code; refused when locked/ended, too soon, or full."""
        blob = check_pixels(pixels)
        values = check_code(code)
        tok = _valid_token(token)
        now = self.clock()
        with self._db(write=True) as conn:
            self._purge(conn, now)
            row = conn.execute("SELECT id, class_id, name, last_submit FROM joins WHERE token_hash = ?",
                               (_hash(tok),)).fetchone() if tok else None
            if row is None:
                raise ClassNotFound("this student link is not part of an open class")
            jid, cid, name, last = row
            info = self._class(conn, "id = ?", (cid,))
            if info.state == "locked":
                raise ClassLocked("the teacher has locked this class: no new drawings for now", info.code)
            if info.state == "ended":
                raise ClassEnded("this class has ended", info.code)
            if last is not None and now - last < SUBMIT_INTERVAL:
                wait = SUBMIT_INTERVAL - (now - last)
                raise RateLimited(f"one drawing every {SUBMIT_INTERVAL:g} s: try again in {wait:.1f} s",
                                  info.code, wait)
            n = conn.execute("SELECT COUNT(*) FROM submissions WHERE class_id = ?", (cid,)).fetchone()[0]
            if n >= MAX_SUBMISSIONS:
                raise ClassFull(f"this class has its {MAX_SUBMISSIONS} drawings already", info.code,
                                "submissions", MAX_SUBMISSIONS)
            conn.execute("UPDATE joins SET last_submit = ? WHERE id = ?", (now, jid))
            cur = conn.execute("INSERT INTO submissions (class_id, join_id, created, pixels, code, activity, round) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (cid, jid, now, blob, json.dumps(list(values)), info.activity, info.round))
            return Submission(cur.lastrowid, jid, str(name), now, values, info.activity, info.round,
                              _pixels_from_blob(blob))

    def guess(self, token: object, round_: int, guess: object) -> None:
        """A student's answer (0–9, or GUESS_NOT_A_DIGIT) for the current predict round; the last one counts."""
        if isinstance(guess, bool) or not isinstance(guess, int) or not GUESS_NOT_A_DIGIT <= guess <= 9:
            raise BadSubmission("a guess is a digit 0–9 or 'not a digit'", field="guess")
        student, info = self.student(token)
        if info.state == "ended":
            raise ClassEnded("this class has ended", info.code)
        if info.activity != "predict" or info.round != round_:
            raise ClassError("this question is closed: the teacher has moved on", info.code)
        if info.revealed:
            raise ClassError("the answer is already revealed", info.code)
        with self._db(write=True) as conn:
            conn.execute("INSERT INTO guesses (class_id, round, join_id, guess, created) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (class_id, round, join_id) DO UPDATE SET guess = excluded.guess, "
                         "created = excluded.created", (info.id, round_, student.id, guess, self.clock()))

    # ------------------------------------------------------------------------------------------ reading

    def class_by_id(self, class_id: int) -> ClassInfo | None:
        """A class by its id (None if gone)."""
        with self._db() as conn:
            return self._class(conn, "id = ?", (int(class_id),))

    def submissions(self, class_id: int, after_id: int = 0, with_pixels: bool = False,
                    join_id: int | None = None) -> list[Submission]:
        """The class's submissions with id > after_id (only student `join_id`'s when given), oldest first (pixels
        only when asked)."""
        cols = "s.id, s.join_id, j.name, s.created, s.code, s.activity, s.round" + (", s.pixels" if with_pixels else "")
        who = "" if join_id is None else " AND s.join_id = ?"
        with self._db() as conn:
            rows = conn.execute(f"SELECT {cols} FROM submissions s JOIN joins j ON j.id = s.join_id "
                                f"WHERE s.class_id = ? AND s.id > ?{who} ORDER BY s.id",
                                (int(class_id), int(after_id), *(() if join_id is None else (int(join_id),))))
            out = []
            for r in rows.fetchall():
                if not (isinstance(r[0], int) and isinstance(r[3], (int, float)) and r[5] in ACTIVITIES):
                    raise ClassError("a drawing record in the classroom database is damaged")
                out.append(Submission(r[0], r[1], str(r[2]), float(r[3]), _parse_code(r[4]), r[5], int(r[6]),
                                      _pixels_from_blob(r[7]) if with_pixels else None))
            return out

    def submission(self, class_id: int, submission_id: int) -> Submission | None:
        """One submission of this class, with its pixels (None if it is not this class's)."""
        for s in self.submissions_by_ids(class_id, [submission_id]):
            return s
        return None

    def submissions_by_ids(self, class_id: int, ids: Sequence[int]) -> list[Submission]:
        """The listed submissions that belong to this class, with pixels."""
        ids = [int(i) for i in ids][:MAX_SUBMISSIONS]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._db() as conn:
            rows = conn.execute(
                "SELECT s.id, s.join_id, j.name, s.created, s.code, s.activity, s.round, s.pixels FROM submissions s "
                f"JOIN joins j ON j.id = s.join_id WHERE s.class_id = ? AND s.id IN ({marks}) ORDER BY s.id",
                (int(class_id), *ids)).fetchall()
        return [Submission(r[0], r[1], str(r[2]), float(r[3]), _parse_code(r[4]), r[5], int(r[6]),
                           _pixels_from_blob(r[7])) for r in rows]

    def count_submissions(self, class_id: int) -> int:
        """How many submissions the class holds."""
        with self._db() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM submissions WHERE class_id = ?",
                                    (int(class_id),)).fetchone()[0])

    def count_students(self, class_id: int) -> int:
        """How many students joined."""
        with self._db() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM joins WHERE class_id = ?", (int(class_id),)).fetchone()[0])

    def histogram(self, class_id: int, round_: int) -> dict[int, int]:
        """{guess: count} of a predict round (GUESS_NOT_A_DIGIT for 'not a digit'); every answer present."""
        out = {g: 0 for g in range(GUESS_NOT_A_DIGIT, 10)}
        with self._db() as conn:
            for g, n in conn.execute("SELECT guess, COUNT(*) FROM guesses WHERE class_id = ? AND round = ? "
                                     "GROUP BY guess", (int(class_id), int(round_))):
                if g in out:
                    out[g] = int(n)
        return out

    def my_guess(self, token: object, round_: int) -> int | None:
        """The student's guess in this round (None if none)."""
        student, info = self.student(token)
        with self._db() as conn:
            row = conn.execute("SELECT guess FROM guesses WHERE class_id = ? AND round = ? AND join_id = ?",
                               (info.id, int(round_), student.id)).fetchone()
        return int(row[0]) if row else None

    def guesses(self, class_id: int) -> list[tuple[int, str, int, float]]:
        """Every guess of the class: (round, student name, guess, time)."""
        with self._db() as conn:
            return [(int(r), str(n), int(g), float(t)) for r, n, g, t in conn.execute(
                "SELECT g.round, j.name, g.guess, g.created FROM guesses g JOIN joins j ON j.id = g.join_id "
                "WHERE g.class_id = ? ORDER BY g.round, g.created", (int(class_id),))]

    # ------------------------------------------------------------------------------------------ export

    def export_csv(self, class_id: int) -> str:
        """CSV of the class's codes and guesses: one row per submission, then one per guess."""
        buf = io.StringIO()
        w = csv.writer(buf)
        subs = self.submissions(class_id)
        d = max((len(s.code) for s in subs), default=2)
        w.writerow(["kind", "id", "student", "time_utc", "activity", "round", "guess"] + [f"z{i + 1}" for i in range(d)])
        for s in subs:
            w.writerow(["submission", s.id, s.name, _iso(s.created), s.activity, s.round, ""]
                       + [f"{v:.5f}" for v in s.code])
        for rnd, name, guess, t in self.guesses(class_id):
            w.writerow(["guess", "", name, _iso(t), "predict", rnd,
                        "not a digit" if guess == GUESS_NOT_A_DIGIT else guess] + [""] * d)
        return buf.getvalue()

    def export_zip(self, class_id: int) -> bytes:
        """A zip of every drawing as a 28×28 PNG (white ink on black, as the model saw it)."""
        from PIL import Image

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for s in self.submissions(class_id, with_pixels=True):
                png = io.BytesIO()
                Image.fromarray((s.pixels * 255).astype(np.uint8)).save(png, format="PNG")
                safe = s.name.replace(" ", "_")
                z.writestr(f"drawing_{s.id:05d}_{safe}.png", png.getvalue())
        return buf.getvalue()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def in_circle(xy: Sequence[float], circle: tuple[float, float, float] | None) -> bool:
    """True when map position xy lies in the circle (x, y, r)."""
    if circle is None:
        return False
    return (xy[0] - circle[0]) ** 2 + (xy[1] - circle[1]) ** 2 <= circle[2] ** 2

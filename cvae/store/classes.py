"""The live classroom's shared state: classes, joins, submissions and guesses in one SQLite file (WAL mode).

The database is the source of truth across browser sessions and server restarts (no module globals hold class
state). Every statement is parametrised; everything read back is checked field by field. Nothing personal is
stored: a student is a random token and a random display name.

Join codes: 6 characters from a 31-letter alphabet (no 0/O, 1/I/L) = 31⁶ ≈ 8.9·10⁸ codes; at most
CODE_FAILURES_PER_MINUTE wrong (well-formed) codes are looked up per minute, server-wide, so finding one of 10 open
classes by guessing takes on average 31⁶ / (2 · 10 · 30) minutes ≈ 2.8 years.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .errors import (BadSubmission, ClassEnded, ClassError, ClassFull, ClassLocked, ClassNotFound, NotTeacher,
                     RateLimited)
from .class_records import (ACTIVITIES, ADJECTIVES, ANIMALS, CODE_ALPHABET, CODE_LENGTH,
                            GUESS_NOT_A_DIGIT, SCHEMA, ClassInfo, Student, Submission,
                            check_code, check_pixels, class_from_row, hash_token, normalise_code,
                            parse_code, pixels_from_blob, valid_token)
from .runs import runs_root

DB_FILE = "classroom.sqlite3"
DB_ENV = "CVAE_CLASSROOM_DB"
TTL_ENV = "CVAE_CLASS_HOURS"
DEFAULT_TTL_HOURS = 4.0
CODE_FAILURES_PER_MINUTE = 30
SUBMIT_INTERVAL = 3.0  # seconds between two submissions of one student
MAX_SUBMISSIONS = 2000  # per class
MAX_STUDENTS = 200  # per class
PURGE_EVERY = 20.0  # seconds; a class past its end time is refused at once all the same (see _live)
ENDED_KEEP_SECONDS = 24 * 3600  # an ended class's one-line "has ended" row is kept this long, then purged




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


_CLASS_COLUMNS = "id, code, run, state, created, expires, activity, round, revealed, star, circle_x, circle_y, circle_r"


class ClassStore:
    """The classroom database at `path` (created on first use; WAL journal)."""

    def __init__(self, path: str | os.PathLike | None = None, clock=time.time):
        self.path = Path(path) if path is not None else db_path()
        self.clock = clock
        self._ready = False
        self._last_purge = -math.inf

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

    def _maybe_purge(self, now: float) -> None:
        """_purge, at most every PURGE_EVERY seconds (reads then need no write lock: 40 phones poll every 2 s)."""
        if now - self._last_purge >= PURGE_EVERY or now < self._last_purge:
            with self._db(write=True) as conn:
                self._purge(conn, now)
            self._last_purge = now

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
        return class_from_row(row) if row else None

    def _teacher(self, conn: sqlite3.Connection, code: str, secret: str) -> ClassInfo:
        """The class if `secret` is its teacher key, else NotTeacher (ended classes: ClassEnded)."""
        code_n = normalise_code(code)
        row = conn.execute("SELECT id, secret_hash FROM classes WHERE code = ?", (code_n,)).fetchone() \
            if code_n else None
        if row is None or not isinstance(secret, str) or not hmac.compare_digest(row[1], hash_token(secret)):
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
                        (code, hash_token(secret), run, now, now + ttl))
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
        self._maybe_purge(self.clock())
        with self._db() as conn:
            return self._live(self._teacher(conn, code, secret))

    def _live(self, info: ClassInfo, error: type[ClassError] = ClassEnded) -> ClassInfo:
        """`info`, or `error` if its time is up (the purge, run now, deletes its data)."""
        if info.state != "ended" and info.expires <= self.clock():
            self._last_purge = -math.inf
            self._maybe_purge(self.clock())
            raise error("this class has ended", info.code)
        return info

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
                               (info.id, hash_token(token), name, now))
            return Student(cur.lastrowid, info.id, name, None), token, info

    def student(self, token: object) -> tuple[Student, ClassInfo]:
        """The student holding `token` and their class (ClassNotFound if unknown; ClassEnded once it ended)."""
        tok = valid_token(token)
        self._maybe_purge(self.clock())
        with self._db() as conn:
            row = conn.execute("SELECT id, class_id, name, last_submit FROM joins WHERE token_hash = ?",
                               (hash_token(tok),)).fetchone() if tok else None
            if row is None:
                raise ClassNotFound("this student link is not part of an open class")
            info = self._class(conn, "id = ?", (row[1],))
        return Student(row[0], row[1], str(row[2]), row[3]), self._live(info, ClassNotFound)

    def submit(self, token: object, pixels: object, code: Sequence[float]) -> Submission:
        """Store a student's drawing (28×28 binary) and its code; refused when locked/ended, too soon, or full."""
        blob = check_pixels(pixels)
        values = check_code(code)
        tok = valid_token(token)
        now = self.clock()
        with self._db(write=True) as conn:
            self._purge(conn, now)
            row = conn.execute("SELECT id, class_id, name, last_submit FROM joins WHERE token_hash = ?",
                               (hash_token(tok),)).fetchone() if tok else None
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
                              pixels_from_blob(blob))

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
                    join_id: int | None = None, only_id: int | None = None) -> list[Submission]:
        """The class's submissions with id > after_id (only student `join_id`'s, or only submission `only_id`,
        when given), oldest first (pixels only when asked)."""
        cols = "s.id, s.join_id, j.name, s.created, s.code, s.activity, s.round" + (", s.pixels" if with_pixels else "")
        where, args = "s.class_id = ? AND s.id > ?", [int(class_id), int(after_id)]
        for column, value in (("s.join_id", join_id), ("s.id", only_id)):
            if value is not None:
                where, args = f"{where} AND {column} = ?", [*args, int(value)]
        with self._db() as conn:
            rows = conn.execute(f"SELECT {cols} FROM submissions s JOIN joins j ON j.id = s.join_id "
                                f"WHERE {where} ORDER BY s.id", args).fetchall()
        out = []
        for r in rows:
            if not (isinstance(r[0], int) and isinstance(r[3], (int, float)) and r[5] in ACTIVITIES):
                raise ClassError("a drawing record in the classroom database is damaged")
            out.append(Submission(r[0], r[1], str(r[2]), float(r[3]), parse_code(r[4]), r[5], int(r[6]),
                                  pixels_from_blob(r[7]) if with_pixels else None))
        return out

    def submission(self, class_id: int, submission_id: int) -> Submission | None:
        """One submission of this class, with its pixels (None if it is not this class's)."""
        found = self.submissions(class_id, with_pixels=True, only_id=submission_id)
        return found[0] if found else None

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

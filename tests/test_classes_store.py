"""The live classroom's SQLite store: classes, joins, submissions, guesses; limits, isolation, expiry, restarts."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from cvae.store import class_export, class_records
from cvae.store import classes as cs
from cvae.store.errors import (BadSubmission, ClassEnded, ClassError, ClassFull, ClassLocked, ClassNotFound,
                               NotTeacher, RateLimited)


class Clock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    return cs.ClassStore(tmp_path / "classroom.sqlite3", clock=clock)


def digit(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((28, 28)) > 0.7).astype(np.float32)


def test_database_is_in_the_runs_root_in_wal_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("CVAE_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv(cs.DB_ENV, raising=False)
    store = cs.ClassStore()
    assert store.path == tmp_path.resolve() / "classroom.sqlite3"
    store.create_class("tutorial")
    assert store.journal_mode() == "wal"
    # WAL is a property of the file: a fresh connection that sets nothing sees it.
    assert sqlite3.connect(tmp_path / "classroom.sqlite3").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_join_submit_and_read_back(store, clock):
    info, secret = store.create_class("tutorial")
    assert len(info.code) == cs.CODE_LENGTH and set(info.code) <= set(cs.CODE_ALPHABET)
    assert info.state == "open" and info.expires == pytest.approx(clock.t + cs.ttl_seconds())
    student, token, joined = store.join(info.code.lower()[:3] + "-" + info.code[3:])  # typed loosely
    assert joined.id == info.id and student.name.count(" ") == 2
    sub = store.submit(token, digit(1), [0.5, -1.25])
    got = store.submissions(info.id, with_pixels=True)
    assert [s.id for s in got] == [sub.id] and got[0].code == (0.5, -1.25) and got[0].name == student.name
    np.testing.assert_array_equal(got[0].pixels, digit(1))
    assert store.submissions(info.id, after_id=sub.id) == []
    assert store.count_submissions(info.id) == 1 and store.count_students(info.id) == 1
    # The teacher key is stored hashed only.
    raw = sqlite3.connect(store.path).execute("SELECT secret_hash FROM classes").fetchone()[0]
    assert secret not in raw and len(raw) == 64


def test_rate_limit_one_submission_per_three_seconds(store, clock):
    info, _ = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    store.submit(token, digit(), [0, 0])
    clock.t += 2.9
    with pytest.raises(RateLimited) as e:
        store.submit(token, digit(), [0, 0])
    assert 0 < e.value.retry_after <= 0.11
    clock.t += 0.1
    store.submit(token, digit(), [0, 0])
    assert store.count_submissions(info.id) == 2
    _, other, _ = store.join(info.code)  # another student is not slowed by the first
    store.submit(other, digit(), [1, 1])


def test_per_class_caps(store, clock, monkeypatch):
    monkeypatch.setattr(cs, "MAX_SUBMISSIONS", 3)
    monkeypatch.setattr(cs, "MAX_STUDENTS", 2)
    info, _ = store.create_class("tutorial")
    tokens = [store.join(info.code)[1] for _ in range(2)]
    with pytest.raises(ClassFull) as e:
        store.join(info.code)
    assert e.value.what == "students"
    for i in range(3):
        clock.t += 3
        store.submit(tokens[i % 2], digit(i), [i, i])
    clock.t += 3
    with pytest.raises(ClassFull) as e:
        store.submit(tokens[1], digit(), [0, 0])
    assert e.value.what == "submissions" and e.value.cap == 3


def test_bad_submissions_are_refused_before_storing(store):
    info, _ = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    for pixels, field in ((np.zeros((28, 27)), "pixels"), (np.full((28, 28), 0.5), "pixels"),
                          (np.zeros((280, 280)), "pixels"), ("not an image", "pixels")):
        with pytest.raises(BadSubmission) as e:
            store.submit(token, pixels, [0, 0])
        assert e.value.field == field
    for code in ([], [float("nan"), 0], [1e9, 0], ["x", 1], [0.0] * 65, None):
        with pytest.raises(BadSubmission):
            store.submit(token, digit(), code)
    with pytest.raises(ClassNotFound):
        store.submit("no-such-token-xxxxxxxx", digit(), [0, 0])
    with pytest.raises(ClassNotFound):
        store.submit("'; DROP TABLE classes; --", digit(), [0, 0])
    assert store.count_submissions(info.id) == 0


def test_sql_injection_in_a_code_is_just_a_wrong_code(store):
    store.create_class("tutorial")
    with pytest.raises(ClassNotFound):
        store.find("' OR 1=1 --")
    with pytest.raises(NotTeacher):
        store.teacher_class("' OR '1'='1", "' OR '1'='1")
    assert len(sqlite3.connect(store.path).execute("SELECT * FROM classes").fetchall()) == 1


def test_classes_are_isolated(store, clock):
    a, sa = store.create_class("tutorial")
    b, sb = store.create_class("tutorial")
    assert a.code != b.code
    _, ta, _ = store.join(a.code)
    _, tb, _ = store.join(b.code)
    s1 = store.submit(ta, digit(1), [1, 1])
    s2 = store.submit(tb, digit(2), [2, 2])
    assert [s.id for s in store.submissions(a.id)] == [s1.id]
    assert [s.id for s in store.submissions(b.id)] == [s2.id]
    assert store.submission(a.id, s2.id) is None and store.submission(b.id, s2.id).id == s2.id
    with pytest.raises(NotTeacher):
        store.clear(a.code, sb)  # class B's key does not open class A
    with pytest.raises(NotTeacher):
        store.end(b.code, sa)
    store.start_predict(a.code, sa, [0, 0])
    store.guess(ta, 1, 7)
    assert store.histogram(b.id, 1)[7] == 0 and store.histogram(a.id, 1)[7] == 1
    assert store.clear(a.code, sa) == 1
    assert store.count_submissions(b.id) == 1 and store.count_submissions(a.id) == 0
    store.end(a.code, sa)
    assert store.count_submissions(b.id) == 1 and store.count_students(b.id) == 1


def test_only_the_teacher_key_locks_clears_and_ends(store, clock):
    info, secret = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    for wrong in ("", token, secret[:-1] + ("A" if secret[-1] != "A" else "B"), None):
        for action in (lambda k: store.set_locked(info.code, k, True), lambda k: store.end(info.code, k),
                       lambda k: store.clear(info.code, k), lambda k: store.start_predict(info.code, k, [0, 0])):
            with pytest.raises(NotTeacher):
                action(wrong)
    assert store.class_by_id(info.id).state == "open"
    assert store.set_locked(info.code, secret, True).state == "locked"
    with pytest.raises(ClassLocked) as e:
        store.submit(token, digit(), [0, 0])
    assert str(e.value).count("\n") == 0 and "locked" in str(e.value)
    store.set_locked(info.code, secret, False)
    store.submit(token, digit(), [0, 0])


def test_end_deletes_everything_and_the_code_then_says_ended(store, clock):
    info, secret = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    store.submit(token, digit(), [0, 0])
    store.start_predict(info.code, secret, [0, 0])
    store.guess(token, 1, 3)
    store.end(info.code, secret)
    db = sqlite3.connect(store.path)
    for table in ("joins", "submissions", "guesses"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert store.find(info.code).state == "ended"
    with pytest.raises(ClassEnded):
        store.join(info.code)
    with pytest.raises(ClassEnded):
        store.teacher_class(info.code, secret)
    with pytest.raises(ClassNotFound):
        store.submit(token, digit(), [0, 0])


def test_classes_expire_on_their_own(store, clock, monkeypatch):
    monkeypatch.setenv(cs.TTL_ENV, "0.5")
    info, secret = store.create_class("tutorial")
    assert info.expires == pytest.approx(clock.t + 1800)
    _, token, _ = store.join(info.code)
    store.submit(token, digit(), [0, 0])
    clock.t += 1801
    assert store.find(info.code).state == "ended"
    assert store.count_submissions(info.id) == 0 and store.count_students(info.id) == 0
    clock.t += cs.ENDED_KEEP_SECONDS + 1
    with pytest.raises(ClassNotFound):
        store.find(info.code)
    for bad in ("abc", "-1", "1e9", "nan"):
        monkeypatch.setenv(cs.TTL_ENV, bad)
        assert cs.ttl_seconds() == cs.DEFAULT_TTL_HOURS * 3600


def test_wrong_codes_are_rate_limited_server_wide(store, clock):
    info, _ = store.create_class("tutorial")
    wrong = [c for c in ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD") if c != info.code]
    for i in range(cs.CODE_FAILURES_PER_MINUTE):
        with pytest.raises(ClassNotFound):
            store.find(wrong[i % len(wrong)])
    with pytest.raises(RateLimited):
        store.find(info.code)  # even the right code waits: guessing stops for everyone for a minute
    with pytest.raises(ClassNotFound):
        store.find("0OIL1!")  # malformed codes are refused without a lookup (and without counting)
    clock.t += 61
    assert store.find(info.code).id == info.id
    assert cs.normalise_code("abc 234") == "ABC234" and cs.normalise_code("ABC23") is None
    assert cs.normalise_code(None) is None and cs.normalise_code("A" * 100) is None
    assert len(cs.CODE_ALPHABET) ** cs.CODE_LENGTH > 8e8


def test_predict_then_reveal_histogram(store, clock):
    info, secret = store.create_class("tutorial")
    tokens = [store.join(info.code)[1] for _ in range(4)]
    r = store.start_predict(info.code, secret, [0.5, 0.5])
    assert r.activity == "predict" and r.round == 1 and r.star == (0.5, 0.5) and not r.revealed
    store.guess(tokens[0], 1, 7)
    store.guess(tokens[1], 1, 7)
    store.guess(tokens[2], 1, cs.GUESS_NOT_A_DIGIT)
    store.guess(tokens[3], 1, 1)
    store.guess(tokens[3], 1, 9)  # changed their mind: the last guess counts
    with pytest.raises(BadSubmission):
        store.guess(tokens[0], 1, 10)
    with pytest.raises(BadSubmission):
        store.guess(tokens[0], 1, True)
    with pytest.raises(ClassError):
        store.guess(tokens[0], 2, 1)  # not the current round
    assert store.my_guess(tokens[3], 1) == 9
    store.reveal(info.code, secret)
    with pytest.raises(ClassError):
        store.guess(tokens[0], 1, 3)  # closed once revealed
    h = store.histogram(info.id, 1)
    assert h[7] == 2 and h[9] == 1 and h[cs.GUESS_NOT_A_DIGIT] == 1 and sum(h.values()) == 4
    r2 = store.start_predict(info.code, secret, [1, 1])
    assert r2.round == 2 and not r2.revealed and sum(store.histogram(info.id, 2).values()) == 0


def test_circle_round_and_export(store, clock):
    info, secret = store.create_class("tutorial")
    r = store.start_circle(info.code, secret, 1.0, -1.0, 0.5)
    assert r.activity == "circle" and r.circle == (1.0, -1.0, 0.5)
    assert class_records.in_circle((1.2, -1.2), r.circle) and not class_records.in_circle((0, 0), r.circle)
    s, token, _ = store.join(info.code)
    sub = store.submit(token, digit(3), [1.1, -0.9])
    assert sub.activity == "circle" and sub.round == 1
    store.start_predict(info.code, secret, [0, 0])
    store.guess(token, 2, 4)
    rows = list(csv.reader(io.StringIO(class_export.export_csv(store, info.id))))
    assert rows[0][:7] == ["kind", "id", "student", "time_utc", "activity", "round", "guess"]
    assert rows[1][0] == "submission" and rows[1][2] == s.name and float(rows[1][7]) == 1.1
    assert rows[2][0] == "guess" and rows[2][6] == "4"
    with zipfile.ZipFile(io.BytesIO(class_export.export_zip(store, info.id))) as z:
        names = z.namelist()
        assert len(names) == 1 and names[0].endswith(".png")
        from PIL import Image
        img = np.asarray(Image.open(io.BytesIO(z.read(names[0]))))
        np.testing.assert_array_equal(img // 255, digit(3).astype(np.uint8))


def test_damaged_rows_raise_one_line(store):
    info, _ = store.create_class("tutorial")
    _, token, _ = store.join(info.code)
    store.submit(token, digit(), [0, 0])
    db = sqlite3.connect(store.path)
    db.execute("UPDATE submissions SET code = 'not json'")
    db.commit()
    with pytest.raises(ClassError, match="damaged"):
        store.submissions(info.id)
    db.execute("UPDATE submissions SET code = '[0, 0]', pixels = X'00'")
    db.commit()
    with pytest.raises(ClassError, match="damaged"):
        store.submissions(info.id, with_pixels=True)


def test_a_restart_loses_nothing(tmp_path):
    """One process creates a class and submits, then exits; a new process (a restarted server) reads it all."""
    path = tmp_path / "classroom.sqlite3"
    writer = f"""
import numpy as np, sys
from cvae.store.classes import ClassStore
s = ClassStore({str(path)!r})
info, secret = s.create_class('tutorial')
_, token, _ = s.join(info.code)
sub = s.submit(token, np.eye(28), [0.25, -0.5])
print(info.code, secret, token, sub.id)
sys.stdout.flush()
import os; os._exit(0)  # no clean shutdown: the commit must already be on disk
"""
    out = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, check=True).stdout.split()
    code, secret, token, sid = out[0], out[1], out[2], int(out[3])
    store = cs.ClassStore(path)
    info = store.teacher_class(code, secret)
    subs = store.submissions(info.id, with_pixels=True)
    assert [s.id for s in subs] == [sid] and subs[0].code == (0.25, -0.5)
    np.testing.assert_array_equal(subs[0].pixels, np.eye(28))
    student, cls = store.student(token)
    assert cls.id == info.id and student.last_submit is not None

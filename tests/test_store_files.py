"""Tests for cvae.store.files: atomic writes, the JSON-lines log, its repair after a crash."""

from __future__ import annotations

import json

import pytest

from cvae.store import files


def listing(d):
    return sorted(p.name for p in d.iterdir())


def test_atomic_writes_replace_and_leave_no_temp_files(tmp_path):
    p = tmp_path / "f.bin"
    files.atomic_write_bytes(p, b"one")
    files.atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    files.atomic_write_text(tmp_path / "t.txt", "héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    files.atomic_write_json(tmp_path / "j.json", {"b": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": [1, 2], "b": 1}
    assert listing(tmp_path) == ["f.bin", "j.json", "t.txt"]


def test_failed_atomic_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    p = tmp_path / "status.json"
    files.atomic_write_json(p, {"state": "running"})

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        files.atomic_write_json(p, {"state": "done"})
    assert json.loads(p.read_text()) == {"state": "running"}
    assert listing(tmp_path) == ["status.json"]


def test_atomic_write_into_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        files.atomic_write_bytes(tmp_path / "nope" / "f", b"x")
    assert listing(tmp_path) == []


def test_append_and_read_jsonl(tmp_path):
    p = tmp_path / "m.jsonl"
    assert files.read_jsonl(p) == []  # missing file: no rows
    rows = [{"kind": "step", "step": i, "loss": 1.5 * i} for i in range(5)]
    for r in rows:
        files.append_jsonl(p, r)
    assert files.read_jsonl(p) == rows
    assert p.read_text().count("\n") == 5


def test_read_jsonl_skips_garbage_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_bytes(b'{"a": 1}\n'
                  b"not json\n"
                  b"\n"
                  b"   \n"
                  b"[1, 2]\n"  # JSON but not an object
                  b'"text"\n'
                  b"\xff\xfe\x00garbage\n"  # not UTF-8
                  b'{"b": 2}\n'
                  b'{"c": 3, "torn": ')  # torn last line
    assert files.read_jsonl(p) == [{"a": 1}, {"b": 2}]


def test_repair_jsonl_drops_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    files.append_jsonl(p, {"epoch": 1})
    files.append_jsonl(p, {"epoch": 2})
    whole = p.read_bytes()
    torn = b'{"epoch": 3, "test_el'
    with open(p, "ab") as f:
        f.write(torn)
    assert files.repair_jsonl(p) == len(torn)
    assert p.read_bytes() == whole
    assert files.repair_jsonl(p) == 0  # idempotent
    # Appends after a repair start on a fresh line and are readable.
    files.append_jsonl(p, {"epoch": 3})
    assert files.read_jsonl(p) == [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}]
    assert listing(tmp_path) == ["m.jsonl"]


def test_repair_jsonl_edge_cases(tmp_path):
    assert files.repair_jsonl(tmp_path / "missing.jsonl") == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert files.repair_jsonl(empty) == 0
    only_torn = tmp_path / "torn.jsonl"
    only_torn.write_bytes(b'{"a": ')
    assert files.repair_jsonl(only_torn) == 6
    assert only_torn.read_bytes() == b""
    # Without repair, appending after a torn line would glue two rows into one garbage line.
    glued = tmp_path / "glued.jsonl"
    glued.write_bytes(b'{"a": 1}\n{"b": ')
    files.append_jsonl(glued, {"c": 3})
    assert files.read_jsonl(glued) == [{"a": 1}]


def test_read_json_errors_name_the_file(tmp_path):
    p = tmp_path / "status.json"
    p.write_text("{bad")
    with pytest.raises(ValueError, match="status.json: not valid JSON"):
        files.read_json(p)
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match="status.json: not valid UTF-8"):
        files.read_json(p)
    with pytest.raises(FileNotFoundError):
        files.read_json(tmp_path / "missing.json")


"""Your own data (#22): a folder of images, an .npz of arrays, an uploaded zip; generated data only (fast)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cvae.data import own_data
from cvae.data.own_data import OwnDataset, load_folder
from cvae.data.own_npz import load_arrays
from cvae.data.safe_zip import data_root, extract_zip
from cvae.data.sources import Dataset
from cvae.store.errors import EmptyFolder, ImagesTooSmall, OwnDataError, TooFewClasses, ZipRefused, DataError

SHAPES = ("circle", "square", "triangle")


def shape_image(kind: str, w: int, h: int, mode: str = "L") -> Image.Image:
    """A black shape on white, centred, filling most of the shorter side."""
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    s = min(w, h)
    x0, y0, x1, y1 = (w - s) // 2 + s // 6, (h - s) // 2 + s // 6, (w + s) // 2 - s // 6, (h + s) // 2 - s // 6
    if kind == "circle":
        d.ellipse((x0, y0, x1, y1), fill="black")
    elif kind == "square":
        d.rectangle((x0, y0, x1, y1), fill="black")
    else:
        d.polygon([((x0 + x1) // 2, y0), (x0, y1), (x1, y1)], fill="black")
    return im.convert(mode)


def make_shapes(root: Path, per_class: int = 10) -> Path:
    """Three class folders of shapes in mixed sizes (PNG and JPEG), one corrupt PNG and one non-image."""
    sizes = [(28, 28), (40, 30), (30, 50), (64, 64), (100, 80)]
    for kind in SHAPES:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            w, h = sizes[i % len(sizes)]
            ext = "jpg" if i % 4 == 3 else "png"
            shape_image(kind, w, h).save(root / kind / f"{kind}_{i:02d}.{ext}")
    good = (root / "circle" / "circle_00.png").read_bytes()
    (root / "square" / "broken.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "triangle" / "notes.png").write_text("not an image at all\n")  # a non-image with an image name
    return root


@pytest.fixture()
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_three_classes_load_with_labels_counts_and_skipped(tmp_path: Path, cache: Path) -> None:
    root = make_shapes(tmp_path / "shapes")
    ds = load_folder(root, cache_dir=cache)
    assert isinstance(ds, Dataset) and ds.class_names == SHAPES and ds.labelled
    assert ds.train_images.shape[1:] == (28, 28) and ds.train_images.dtype == np.uint8
    assert len(ds.train_images) + len(ds.test_images) == 30
    assert len(ds.test_images) == 3  # 10 % of each class of 10
    assert np.bincount(ds.test_labels, minlength=3).tolist() == [1, 1, 1]
    assert np.bincount(ds.train_labels, minlength=3).tolist() == [9, 9, 9]
    assert ds.skipped == 2
    line = ds.skipped_line()
    assert "square/broken.png: unreadable or truncated" in line and "triangle/notes.png: not a PNG, JPEG, GIF, BMP or WebP image" in line
    assert ds.resize_rule == "centre-crop"
    # Labels follow the folders: every image's label is its folder's index.
    for files, labels in ((ds.train_files, ds.train_labels), (ds.test_files, ds.test_labels)):
        assert [SHAPES.index(f.split("/")[0]) for f in files] == labels.tolist()
    # The pixels are the shapes: a square fills its centre, a circle leaves the crop's corners white, and a
    # triangle's top corners are white while its base is dark.
    images = dict(zip(ds.train_files + ds.test_files, np.concatenate([ds.train_images, ds.test_images])))
    sq, ci, tr = images["square/square_00.png"], images["circle/circle_00.png"], images["triangle/triangle_00.png"]
    assert sq[14, 14] < 30 and sq[6, 6] < 60 and ci[6, 6] > 200 and ci[14, 14] < 30
    assert tr[6, 6] > 200 and tr[20, 6] < 100


def test_resize_is_centre_crop_keeping_the_aspect(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "flat"
    root.mkdir()
    im = np.full((20, 60), 255, np.uint8)  # a wide image: left third black, centre white, right third grey
    im[:, :20], im[:, 40:] = 0, 128
    Image.fromarray(im).save(root / "wide.png")
    Image.fromarray(im).save(root / "wide2.png")
    ds = load_folder(root, size=20, cache_dir=cache)
    out = np.concatenate([ds.train_images, ds.test_images])
    assert not ds.labelled and ds.class_names == ()
    assert (out == 255).all()  # the centre 20x20 only: neither the black nor the grey third survives


def test_colour_size_and_modes(tmp_path: Path, cache: Path) -> None:
    root = tmp_path / "modes"
    root.mkdir()
    red = Image.new("RGB", (16, 16), (255, 0, 0))
    red.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(root / "transparent.png")  # transparent: white
    red.convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(root / "grey16.png")  # 16-bit white
    Image.new("1", (16, 16), 1).save(root / "bilevel.bmp")
    red.save(root / "red.gif")
    red.save(root / "red.webp", lossless=True)
    ds = load_folder(root, size=8, channels=3, cache_dir=cache)
    assert ds.skipped == 0
    got = dict(zip(ds.train_files + ds.test_files, np.concatenate([ds.train_images, ds.test_images])))
    assert got["palette.png"].shape == (8, 8, 3)
    assert (got["palette.png"] == [255, 0, 0]).all() and (got["red.webp"] == [255, 0, 0]).all()
    assert (got["red.gif"] == [255, 0, 0]).all()
    assert (got["transparent.png"] == 255).all() and (got["grey16.png"] == 255).all()
    assert (got["bilevel.bmp"] == 255).all()
    assert abs(int(got["cmyk.jpg"][..., 0].mean()) - 255) < 8 and got["cmyk.jpg"][..., 1].mean() < 8
    grey = load_folder(root, size=8, channels=1, cache_dir=cache)
    assert grey.train_images.shape[1:] == (8, 8) and grey.size == 8


def test_size_rules_and_defaults(tmp_path: Path) -> None:
    assert own_data.check_size(None, 1) == 28 and own_data.check_size(None, 3) == 32
    for bad in (30, 68, 0, 2.0, True):
        with pytest.raises(OwnDataError, match="multiple of 4"):
            own_data.check_size(bad, 1)
    with pytest.raises(OwnDataError, match="channels"):
        own_data.check_size(None, 2)


def test_split_is_seeded_stable_and_stored(tmp_path: Path, cache: Path) -> None:
    root = make_shapes(tmp_path / "shapes", per_class=20)
    a = load_folder(root, seed=1, use_cache=False)
    b = load_folder(root, seed=1, use_cache=False)
    c = load_folder(root, seed=2, use_cache=False)
    assert a.test_files == b.test_files and np.array_equal(a.test_images, b.test_images)
    assert a.test_files != c.test_files and len(a.test_files) == len(c.test_files) == 6
    assert not set(a.test_files) & set(a.train_files)
    assert "seed 1" in a.split
    # Stored: the cached copy gives the same split without decoding.
    first = load_folder(root, seed=1, cache_dir=cache)
    again = load_folder(root, seed=1, cache_dir=cache)
    assert not first.from_cache and again.from_cache
    assert again.test_files == a.test_files and np.array_equal(again.train_images, a.train_images)
    assert again.skipped == a.skipped == 2 and again.skipped_examples == a.skipped_examples


def test_train_test_folders_are_the_split(tmp_path: Path, cache: Path) -> None:
    for split, n in (("train", 4), ("test", 2)):
        for kind in ("circle", "square"):
            (tmp_path / "d" / split / kind).mkdir(parents=True)
            for i in range(n):
                shape_image(kind, 32, 32).save(tmp_path / "d" / split / kind / f"{i}.png")
    ds = load_folder(tmp_path / "d", cache_dir=cache)
    assert ds.class_names == ("circle", "square") and len(ds.train_images) == 8 and len(ds.test_images) == 4
    assert all(f.startswith("test/") for f in ds.test_files) and "folders" in ds.split


def test_cache_follows_the_folder(tmp_path: Path, cache: Path) -> None:
    root = make_shapes(tmp_path / "shapes")
    first = load_folder(root, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 1
    with zipfile.ZipFile(next(cache.glob("*.npz"))) as z:  # uncompressed, plain arrays
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
    shape_image("circle", 30, 30).save(root / "circle" / "new.png")
    second = load_folder(root, cache_dir=cache)
    assert not second.from_cache and second.fingerprint != first.fingerprint
    assert len(second.train_images) + len(second.test_images) == 31
    # A damaged cache file is ignored and rebuilt, not trusted.
    for p in cache.glob("*.npz"):
        p.write_bytes(p.read_bytes()[:100])
    third = load_folder(root, cache_dir=cache)
    assert not third.from_cache and np.array_equal(third.train_images, second.train_images)


def test_one_line_errors(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyFolder, match="no readable"):
        load_folder(tmp_path / "empty", cache_dir=cache)
    one = tmp_path / "one" / "cats"
    one.mkdir(parents=True)
    for i in range(3):
        shape_image("circle", 20, 20).save(one / f"{i}.png")
    with pytest.raises(TooFewClasses, match="at least two class folders, found 1: cats") as e:
        load_folder(tmp_path / "one", labels=True, cache_dir=cache)
    assert e.value.classes == ["cats"] and "\n" not in str(e.value)
    assert not load_folder(tmp_path / "one", cache_dir=cache).labelled  # labels not asked for: unlabelled
    small = tmp_path / "small"
    small.mkdir()
    for i in range(3):
        Image.new("L", (5, 5)).save(small / f"{i}.png")
    with pytest.raises(ImagesTooSmall, match="smaller than 8 pixels") as e:
        load_folder(small, cache_dir=cache)
    assert e.value.minimum == 8 and e.value.count == 3
    with pytest.raises(OwnDataError, match="no such folder"):
        load_folder(tmp_path / "nowhere", cache_dir=cache)


def test_decompression_bomb_refused(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "bomb"
    root.mkdir()
    # A real bomb: 8,000 x 6,000 pixels (48 Mpixels) in a ~60 KB PNG; the limit is 40 Mpixels.
    Image.new("1", (8000, 6000)).save(root / "bomb.png", optimize=True)
    assert (root / "bomb.png").stat().st_size < 1_000_000
    for i in range(2):
        shape_image("square", 20, 20).save(root / f"ok{i}.png")
    assert Image.MAX_IMAGE_PIXELS == own_data.MAX_IMAGE_PIXELS == 40_000_000
    ds = load_folder(root, cache_dir=cache)
    assert ds.skipped == 1 and "bomb.png: over the 40,000,000-pixel limit (decompression bomb)" in ds.skipped_line()
    # Twice the limit: Pillow itself raises while reading the header; the same line.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000_000)
    ds = load_folder(root, use_cache=False)
    assert "bomb.png: over the 20,000,000-pixel limit (decompression bomb)" in ds.skipped_line()
    # Someone raising Pillow's global limit does not lift ours: the header check still refuses it.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    ds = load_folder(root, use_cache=False)
    assert "bomb.png: 8000x6000 pixels, over the 40,000,000 limit" in ds.skipped_line()


def test_links_leaving_the_folder_are_not_followed(tmp_path: Path, cache: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shape_image("circle", 20, 20).save(outside / "secret.png")
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(2):
        shape_image("square", 20, 20).save(root / "a" / f"{i}.png")
        shape_image("circle", 20, 20).save(root / "b" / f"{i}.png")
    os.symlink(outside / "secret.png", root / "a" / "escape.png")
    os.symlink(outside, root / "linked_dir")
    os.symlink(root / "b" / "0.png", root / "a" / "inside.png")  # stays inside: read
    ds = load_folder(root, cache_dir=cache)
    files = ds.train_files + ds.test_files
    assert "a/escape.png" not in files and "a/inside.png" in files and len(files) == 5
    assert ds.class_names == ("a", "b")  # the linked folder is no class
    assert "a/escape.png: a link leading outside the folder" in ds.skipped_line()
    assert "linked_dir: a link leading outside the folder" in ds.skipped_line()


# ------------------------------------------------------------------------------------------- npz arrays


def test_npz_arrays_uint8_float_and_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "u8.npz", x_train=x, x_test=x[:3], y_train=np.arange(10) % 2, y_test=np.array([0, 1, 1]),
             class_names=np.array(["cat", "dog"]))
    ds = load_arrays(tmp_path / "u8.npz")
    assert ds.class_names == ("cat", "dog") and ds.channels == 3 and ds.size == 16
    assert np.array_equal(ds.train_images, x) and ds.train_labels.dtype == np.uint8
    np.savez(tmp_path / "f.npz", x_train=(x[..., 0] / 255).astype(np.float32), x_test=x[:2, ..., 0] / 255.0)
    f = load_arrays(tmp_path / "f.npz")
    assert not f.labelled and f.channels == 1 and np.array_equal(f.train_images, x[..., 0])
    np.savez(tmp_path / "bad.npz", x_train=x[..., 0] * 2.0, x_test=x[:2, ..., 0] / 255.0)
    with pytest.raises(OwnDataError, match=r"in \[0, 1\]"):
        load_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "odd.npz", x_train=np.zeros((3, 30, 30), np.uint8), x_test=np.zeros((3, 30, 30), np.uint8))
    with pytest.raises(OwnDataError, match="multiple of 4"):
        load_arrays(tmp_path / "odd.npz")


def test_npz_pickle_and_lying_headers_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "obj.npz", x_train=np.array([{"a": 1}], dtype=object), x_test=np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(DataError, match="pickle"):
        load_arrays(tmp_path / "obj.npz")
    # A header claiming far more data than the member holds is refused before any allocation.
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (10**6, 64, 64)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as z:
        z.writestr("x_train.npy", b"\x93NUMPY\x01\x00" + buf.getvalue()[8:] + b"\0" * 100)
        z.writestr("x_test.npy", b"")
    with pytest.raises(DataError, match="liar.npz\\[x_train\\]: .*(over the|header says)"):
        load_arrays(tmp_path / "liar.npz")
    np.savez(tmp_path / "nox.npz", y_train=np.zeros(3))
    with pytest.raises(DataError, match="missing x_train, x_test"):
        load_arrays(tmp_path / "nox.npz")


# ------------------------------------------------------------------------------------------- zips


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def png_bytes() -> bytes:
    buf = io.BytesIO()
    shape_image("circle", 20, 20).save(buf, "PNG")
    return buf.getvalue()


def test_zip_extracts_atomically_and_loads(tmp_path: Path, cache: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "uploads").mkdir(parents=True)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as z:
        for kind in ("circle", "square"):
            for i in range(3):
                z.writestr(f"mine/{kind}/{i}.png", png_bytes())
        z.writestr("__MACOSX/mine/._x.png", b"junk")
    data.seek(0)
    out = extract_zip(data, runs / "uploads", "u1", within=runs)
    assert out == (runs / "uploads" / "u1").resolve()
    assert tree(runs / "uploads") == {"u1", "u1/mine", "u1/mine/circle", "u1/mine/square"} | {
        f"u1/mine/{k}/{i}.png" for k in ("circle", "square") for i in range(3)}
    ds = load_folder(data_root(out), cache_dir=cache)
    assert ds.class_names == ("circle", "square")


def hostile_zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in entries.items():
            z.writestr(name, body)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("entry, reason", [
    ("../evil.png", "'..' path"), ("ok/../../evil.png", "'..' path"), ("/tmp/evil.png", "absolute path"),
    ("C:/evil.png", "absolute path"), ("..\\evil.png", "backslash"),
])
def test_zip_with_escaping_entry_refused(tmp_path: Path, entry: str, reason: str) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    z = hostile_zip(tmp_path / "evil.zip", {"good/a.png": png_bytes(), entry: png_bytes()})
    before = tree(tmp_path)
    with pytest.raises(ZipRefused, match=reason) as e:
        extract_zip(z, runs, "up", within=runs)
    assert e.value.entry == entry and "\n" not in str(e.value)
    assert tree(tmp_path) == before  # nothing written anywhere, not even the good entry


def test_zip_symlink_and_bomb_refused(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    z = hostile_zip(tmp_path / "link.zip", {"a.png": png_bytes()}, symlink="b.png")
    with pytest.raises(ZipRefused, match="symbolic link"):
        extract_zip(z, runs, "up", within=runs)
    # A zip bomb: 200 MB of zeros that compress to ~200 KB; the cap is 100 MB here.
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("zeros.png", "w", force_zip64=True) as w:
            block = b"\0" * (1 << 20)
            for _ in range(200):
                w.write(block)
    assert bomb.stat().st_size < 1_000_000
    before = tree(tmp_path)
    with pytest.raises(ZipRefused, match="over the cap of 100,000,000 \\(zip bomb\\?\\)") as e:
        extract_zip(bomb, runs, "up", within=runs, max_bytes=100_000_000)
    assert tree(tmp_path) == before and "\n" not in str(e.value)
    with pytest.raises(ZipRefused, match="entries, over the cap"):
        extract_zip(hostile_zip(tmp_path / "many.zip", {f"{i}.png": b"x" for i in range(20)}), runs, "up",
                    within=runs, max_files=10)


def test_zip_lying_about_its_size_is_stopped_while_extracting(tmp_path: Path) -> None:
    """An entry declaring 10 bytes but holding 100 KB: zipfile reads no more than declared, the CRC then fails."""
    runs = tmp_path / "runs"
    runs.mkdir()
    z = hostile_zip(tmp_path / "liar.zip", {"a.png": b"\0" * 100_000})
    raw = bytearray(z.read_bytes())
    # Patch the declared uncompressed size (central directory and local header) down to 10 bytes.
    with zipfile.ZipFile(z) as zf:
        info = zf.infolist()[0]
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    raw[22:26] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(raw))
    before = tree(tmp_path)
    with pytest.raises(ZipRefused, match="cannot extract .*CRC"):
        extract_zip(z, runs, "up", within=runs)
    assert tree(tmp_path) == before and info.file_size == 100_000


def test_zip_target_must_be_inside_the_runs_root(tmp_path: Path) -> None:
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    runs.mkdir()
    elsewhere.mkdir()
    z = hostile_zip(tmp_path / "ok.zip", {"a.png": png_bytes()})
    with pytest.raises(ZipRefused, match="outside"):
        extract_zip(z, elsewhere, "up", within=runs)
    os.symlink(elsewhere, runs / "link")
    with pytest.raises(ZipRefused, match="not a folder"):
        extract_zip(z, runs / "link", "up", within=runs)
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ZipRefused, match="folder name"):
            extract_zip(z, runs, bad, within=runs)
    assert tree(elsewhere) == set()


# ------------------------------------------------------------------------------------------- entry point, memory


def test_load_own_picks_the_kind_and_notices_changes(tmp_path: Path, cache: Path) -> None:
    from cvae.data.own import changed_since, load_own

    root = make_shapes(tmp_path / "shapes", per_class=4)
    ds = load_own(root, cache_dir=cache)
    assert ds.name == "folder" and ds.class_names == SHAPES and changed_since(ds.fingerprint, ds) is None
    shape_image("square", 30, 30).save(root / "square" / "extra.png")
    again = load_own(root, cache_dir=cache)
    assert "the data changed since this run recorded it" in changed_since(ds.fingerprint, again)
    np.savez(tmp_path / "a.npz", x_train=np.zeros((4, 8, 8), np.uint8), x_test=np.zeros((2, 8, 8), np.uint8))
    assert load_own(tmp_path / "a.npz", size=8).name == "npz"
    with pytest.raises(OwnDataError, match="not the 8x8 with 3 channel"):
        load_own(tmp_path / "a.npz", size=8, channels=3)
    with pytest.raises(OwnDataError, match="extract it first"):
        load_own(tmp_path / "up.zip")


def test_decoding_needs_about_one_copy_of_the_images(tmp_path: Path) -> None:
    """NumPy's allocations while loading stay near the images' uint8 size (a list of arrays + stack is ~2x)."""
    import tracemalloc

    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(0)
    n = 400
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"{i}.png", compress_level=0)
    size = n * 64 * 64 * 3
    for expect_cached in (False, True):  # decoding and writing the cache; then reading it
        tracemalloc.start()
        try:
            ds = load_folder(root, size=64, channels=3, cache_dir=tmp_path / "cache")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert ds.from_cache == expect_cached and len(ds.train_images) + len(ds.test_images) == n
        assert peak < 1.5 * size, (expect_cached, peak / size)


def test_layout_rules(tmp_path: Path, cache: Path) -> None:
    """Hidden files ignored; loose files beside class folders and other types skipped; other formats refused."""
    root = make_shapes(tmp_path / "shapes", per_class=3)
    shape_image("circle", 20, 20).save(root / "loose.png")
    shape_image("circle", 20, 20).save(root / "circle" / ".hidden.png")
    (root / "square" / "readme.txt").write_text("hello")
    shape_image("circle", 20, 20).save(root / "circle" / "tiff_in_disguise.png", format="TIFF")
    ds = load_folder(root, cache_dir=cache)
    line = ds.skipped_line()
    assert "loose.png: not inside a class folder" in line and "square/readme.txt: not an image file type" in line
    assert "circle/tiff_in_disguise.png: not a PNG, JPEG, GIF, BMP or WebP image" in line
    assert ".hidden" not in line and ds.skipped == 5  # + the broken and the fake PNG
    flat = load_folder(root, labels=False, cache_dir=cache)  # labels ignored: every image, one class
    assert not flat.labelled and len(flat.train_images) + len(flat.test_images) == 10
    assert set(flat.train_labels.tolist() + flat.test_labels.tolist()) == {0}
    with pytest.raises(DataError, match="train label 5 has no class name"):
        OwnDataset(name="folder", train_images=ds.train_images, train_labels=ds.train_labels + 3,
                   test_images=ds.test_images, test_labels=ds.test_labels, source="x", names=SHAPES)

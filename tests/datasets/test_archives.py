"""Archives (datasets/archives.py): RAR through bsdtar or unar, zip and tar, nothing half-extracted."""

import io
import shutil
import tarfile
import zipfile

import pytest

from pixret.datasets.archives import extract
from pixret.datasets.download import install
from pixret.datasets.sources import Source
from pixret.errors import PixretError
from tests.helpers import RELEASE_FILES
from tests.rar5 import write_rar5


def test_rar_falls_back_to_unar_and_explains_when_neither_exists(tmp_path, monkeypatch):
    archive = write_rar5(tmp_path / "a.rar", RELEASE_FILES)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda n: None if n == "bsdtar" else real_which(n))
    assert len(extract(archive, tmp_path / "u")) == 2  # unar did it
    monkeypatch.setattr(shutil, "which", lambda n: None)
    with pytest.raises(PixretError, match="libarchive-tools"):
        extract(archive, tmp_path / "none")


def test_zip_tar_flatten_and_corrupt(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("paris/defense/paris_defense_000000.jpg", "paris/eiffel/paris_eiffel_000001.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"jpg"))
    tgz = tmp_path / "paris_1-v1.tgz"
    tgz.write_bytes(buf.getvalue())
    placed = extract(tgz, tmp_path / "jpg", flatten=True)
    assert sorted(p.name for p in placed) == ["paris_defense_000000.jpg", "paris_eiffel_000001.jpg"]
    z = tmp_path / "r.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("results/image-level/m/roxford.npy", b"1")
    assert extract(z, tmp_path / "z")[0].name == "roxford.npy"
    whole = write_rar5(tmp_path / "whole.rar", RELEASE_FILES).read_bytes()
    bad = tmp_path / "bad.rar"
    bad.write_bytes(whole[: len(whole) // 2])  # truncated mid-file
    with pytest.raises(PixretError, match="could not extract RAR"):
        extract(bad, tmp_path / "b")
    assert not any((tmp_path / "b").iterdir())  # nothing half-extracted left behind


def test_a_file_member_never_replaces_a_dataset_folder(tmp_path):
    root = tmp_path / "d"
    good = root / "pixel_retrieval_benchmarks"
    for k in range(5):
        (good / "queries" / f"{k}.json").parent.mkdir(parents=True, exist_ok=True)
        (good / "queries" / f"{k}.json").write_text("{}")
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("pixel_retrieval_benchmarks", b"one file")
        zf.writestr("other/new.txt", b"x")
    with pytest.raises(PixretError, match="is a file where .* is a folder; nothing was changed"):
        install(Source("labels", (), "evil.zip", "."), root, from_file=z, progress=False)
    assert len(list(good.rglob("*.json"))) == 5 and not (root / "other").exists()

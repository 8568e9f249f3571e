"""Files a user names are never replaced silently and are written atomically (wgan_cli/paths.py)."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from wgan_cli.errors import UserError, WriteError
from wgan_cli.paths import check_new, written_atomically


def test_an_existing_file_is_refused_unless_forced(tmp_path):
    keep = tmp_path / "keep.csv"
    keep.write_text("mine")
    with pytest.raises(UserError, match=r"^--out .*keep\.csv: exists; give --force to replace it$"):
        check_new(keep, "--out", force=False)
    check_new(keep, "--out", force=True)
    check_new(tmp_path / "new.csv", "--out", force=False)


def test_a_folder_holding_images_is_refused_unless_forced(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    check_new(folder, "--out", force=False, folder=True)  # no images: nothing to mix with
    (folder / "000001.png").write_bytes(b"old")
    with pytest.raises(UserError, match=r"the folder holds 1 image\(s\); give --force"):
        check_new(folder, "--out", force=False, folder=True)


def test_a_forced_folder_gets_the_new_images_and_keeps_the_users_other_files(tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("000000.png", "000001.png", "holiday.png", "notes.txt"):
        (folder / name).write_text("old")
    with written_atomically(folder) as tmp:
        tmp.mkdir()
        (tmp / "000000.png").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "holiday.png", "notes.txt"]
    assert (folder / "000000.png").read_text() == "new" and (folder / "holiday.png").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "stats.npz"
    target.write_bytes(b"old")

    def disk_full(fd):  # noqa: ANN001, ANN202 - the real full disk: test_a_full_disk_keeps_the_users_file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("wgan_cli.paths.os.fsync", disk_full)
    with pytest.raises(WriteError, match=f"^no space left on device writing {target}; the previous file is intact$"):
        with written_atomically(target) as tmp:
            assert tmp.suffix == ".npz" and tmp.parent == tmp_path  # the writer sees the format's suffix
            np.savez(tmp, mu=np.zeros(3))
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.npz"]


def test_a_full_disk_keeps_the_users_file(small_disk):
    keep = small_disk / "keep.csv"
    keep.write_text("x,y\n1,2\n")
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with pytest.raises(WriteError, match="^no space left on device writing .*keep.csv; the previous file is intact$"):
        with written_atomically(keep) as tmp, open(tmp, "w") as f:
            f.write("x" * (free + 65536))
    assert keep.read_text() == "x,y\n1,2\n"
    assert sorted(p.name for p in small_disk.iterdir()) == ["keep.csv"]

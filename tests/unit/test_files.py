"""Files written whole: through a partial beside the target, renamed over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.storage.files import partial_of, write_atomically


@pytest.mark.parametrize("durable", [False, True])
def test_a_file_is_written_whole_and_no_partial_stays(tmp_path: Path, durable: bool) -> None:
    path = tmp_path / "deep" / "avatar-7.mp4"
    write_atomically(path, b"old")
    write_atomically(path, b"new", durable=durable)
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["avatar-7.mp4"]


def test_the_partial_keeps_the_name_it_is_written_for(tmp_path: Path) -> None:
    assert partial_of(tmp_path / "avatar-7.mp4") == tmp_path / "avatar-7.mp4.part"


def test_a_write_cut_before_its_rename_leaves_the_partial_under_its_name(tmp_path: Path) -> None:
    path = tmp_path / "avatar-7.mp4"
    path.mkdir()  # the rename fails, as a crash before it would leave things
    with pytest.raises(OSError):
        write_atomically(path, b"new")
    assert partial_of(path).read_bytes() == b"new"


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "note.ogg"
    write_atomically(path, b"old")
    partial_of(path).mkdir()  # the partial cannot be opened for writing
    with pytest.raises(OSError):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"

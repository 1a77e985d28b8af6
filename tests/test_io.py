"""The output policy (pyrovae.base.io.check_output), the CSV header reader and the rewritten
blocks of a Markdown file."""

import pytest

from pyrovae.base import io
from pyrovae.base.errors import ConfigError


def test_new_files_and_directories_may_be_written(tmp_path):
    io.check_output(tmp_path / "new" / "deeper" / "a.csv", "--out")
    io.check_output(tmp_path / "run", "out", directory=True)
    (tmp_path / "run").mkdir()
    io.check_output(tmp_path / "run", "out", directory=True)


def test_an_existing_file_is_replaced_only_where_it_is_ours(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("mine\n")
    with pytest.raises(ConfigError, match=r"--out .*a.txt already exists and is not a file pyrovae "
                                          r"wrote there, so it was left as it is"):
        io.check_output(path, "--out")
    with pytest.raises(ConfigError, match="already exists"):
        io.check_output(path, "--out", ours=lambda p: p.read_text() == "ours\n")
    path.write_text("ours\n")
    io.check_output(path, "--out", ours=lambda p: p.read_text() == "ours\n")
    assert path.read_text() == "ours\n"


def test_directory_file_mixups_and_special_files_are_refused(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a directory; give the path of a file to write"):
        io.check_output(tmp_path / "dir", "--out", ours=lambda p: True)
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        io.check_output(tmp_path / "file", "out", directory=True)
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        io.check_output(tmp_path / "file" / "a.csv", "--out")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="exists and is not a regular file"):
        io.check_output(tmp_path / "dangling", "--out", ours=lambda p: True)


def test_an_unwritable_parent_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(io.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="is not writable"):
        io.check_output(tmp_path / "a.csv", "--out")


def test_csv_header_of_absent_empty_and_undecodable_files(tmp_path):
    assert io.csv_header(tmp_path / "absent.csv") is None
    (tmp_path / "empty.csv").write_bytes(b"")
    assert io.csv_header(tmp_path / "empty.csv") is None
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    assert io.csv_header(tmp_path / "a.csv") == ["x", "y"]
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="is not a CSV text file"):
        io.csv_header(tmp_path / "bin.csv")


def test_a_block_is_replaced_between_its_markers_and_nothing_else_changes(tmp_path):
    text = "intro\n<!-- a -->\nold a\n<!-- /a -->\nmiddle\n<!-- b -->\nold b\n<!-- /b -->\nend\n"
    replaced = io.replace_block(text, "b", "new b\n")
    assert replaced == text.replace("old b", "new b")
    assert io.replace_block(replaced, "b", "old b\n") == text
    path = tmp_path / "README.md"
    path.write_text(text)
    io.check_block(path, "a", "--readme")
    io.write_block(path, "a", "± new a\n")
    assert path.read_text(encoding="utf-8") == text.replace("old a", "± new a")


@pytest.mark.parametrize("content, message", [
    (None, "does not exist or is not a file"),
    (b"\xff\xfe not text", "is not UTF-8 text"),
    (b"<!-- a -->\nonly the start\n", "has no '<!-- a -->' ... '<!-- /a -->' block"),
    (b"<!-- /a -->\nend before start\n<!-- a -->\n", "has no"),
])
def test_a_file_whose_block_cannot_be_rewritten_is_refused(tmp_path, content, message):
    path = tmp_path / "README.md"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        io.check_block(path, "a", "--readme")
    assert (path.read_bytes() if content is not None else None) == content

import pytest

from hanseg.atomic import write_text_atomic


def test_writes_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "deep" / "table.tsv"
    assert write_text_atomic(path, "a\tb\n") == path
    write_text_atomic(path, "c\td\r\n")  # written as given: no newline translation
    assert path.read_bytes() == b"c\td\r\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["table.tsv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    write_text_atomic(path, '{"done": true}\n')
    with pytest.raises(TypeError):
        write_text_atomic(path, b"not text")  # fails mid-write, after the temporary file exists
    assert path.read_text() == '{"done": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]

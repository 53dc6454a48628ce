"""The search pipeline's files (pipelines/search.py): the queries file, read line by line."""

import pytest

from pixret.errors import PixretError
from pixret.pipelines.search import read_queries


def test_a_queries_file_names_each_image_and_box(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b c.jpg").write_bytes(b"")
    path = tmp_path / "q.txt"
    path.write_text("# image x1,y1,x2,y2\na.jpg 1,2,30,40\n\nsub/b c.jpg 5, 6, 50, 60\n")
    q = read_queries(path)
    assert [(x.image.name, tuple(x.box), x.line) for x in q] == [("a.jpg", (1, 2, 30, 40), 2),
                                                                 ("b c.jpg", (5, 6, 50, 60), 4)]  # fmt: skip
    assert q[0].image == tmp_path / "a.jpg"  # relative to the file's folder


@pytest.mark.parametrize("text, message", [
    ("a.jpg\n", "line 1: expected IMAGE x1,y1,x2,y2"),
    ("a.jpg 1,2,x,40\n", "line 1:"),
    ("missing.jpg 1,2,30,40\n", "line 1: image missing.jpg not found"),
    ("# nothing\n", "no queries in the file"),
])  # fmt: skip
def test_a_bad_line_is_one_line_naming_it(tmp_path, text, message):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "q.txt").write_text(text)
    with pytest.raises(PixretError, match=message):
        read_queries(tmp_path / "q.txt")

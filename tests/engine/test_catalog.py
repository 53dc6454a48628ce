"""The image catalog (engine/catalog.py): records parsed lazily, a damaged line is one line."""

import pytest

from pixret.engine.catalog import Catalog, write_catalog
from pixret.errors import PixretError


@pytest.mark.parametrize(
    "bad",
    [{"path": "a.jpg", "name": "a", "size": ["x", 2]}, {"path": "a.jpg", "name": "a", "size": [640]},
     {"path": 3, "name": "a", "size": [2, 2]}, {"path": "a.jpg", "name": "a", "size": [2, 2], "bytes": "7"}],
)  # fmt: skip
def test_a_record_of_the_wrong_shape_is_one_line(tmp_path, bad):
    good = {"path": "/p/b.jpg", "name": "b", "size": [640, 480], "cache": "", "rel": "b.jpg", "bytes": 10}
    write_catalog(tmp_path, [good, bad])
    cat = Catalog(tmp_path)
    assert cat[0] == good
    with pytest.raises(PixretError, match="record 1 is not an image"):
        cat[1]

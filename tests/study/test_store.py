"""The study file (study/store.py): versioned schema, refused untouched."""

import hashlib
import sqlite3
from pathlib import Path

import pytest

from pixret.errors import PixretError
from pixret.study.service import Study, create_study


def test_a_study_file_from_a_newer_schema_is_refused_untouched(study_file):
    db = sqlite3.connect(study_file)
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    before = _digest(study_file)
    with pytest.raises(PixretError, match="schema version 2; this pixret reads version 1: upgrade pixret"):
        Study(study_file)
    assert _digest(study_file) == before
    with pytest.raises(PixretError, match="exists"):
        create_study(study_file, "x", "eng")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

"""The package imports and its thread control works."""

import rnnrs


def test_threads_roundtrip():
    before = rnnrs.get_num_threads()
    try:
        rnnrs.set_num_threads(1)
        assert rnnrs.get_num_threads() == 1
        rnnrs.set_num_threads(2)
        assert rnnrs.get_num_threads() == 2
    finally:
        rnnrs.set_num_threads(0)
    assert rnnrs.get_num_threads() == before or before >= 1


def test_version():
    assert isinstance(rnnrs.__version__, str)

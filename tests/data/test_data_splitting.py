"""Evaluating N points of a split: indices spread evenly over it."""

from pyrovae.data.splitting import spread_indices


def test_spread_indices_cover_the_split_evenly():
    assert spread_indices(10, None) is None and spread_indices(10, 10) is None
    assert spread_indices(10, 4).tolist() == [0, 3, 6, 9]
    index = spread_indices(10000, 1000)
    assert len(set(index.tolist())) == 1000 and index[0] == 0 and index[-1] == 9999

"""ESNClassifier: features against the reference, scikit-learn behaviour, errors, and the
Japanese Vowels accuracy target; ESN's defaults and its message for sequence labels."""

from __future__ import annotations

import numpy as np
import pytest
import rnnrs as rr
from rnnrs.reference import reservoir_features as ref


def _toy(n=60, seed=0):
    """Two classes of variable-length sequences: a slow sine over a positive offset and a fast one
    over a negative offset, with noise."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n):
        label = k % 2
        t = np.arange(rng.integers(8, 20))
        freq = 0.3 if label == 0 else 1.1
        X.append(np.stack([np.sin(freq * t + rng.uniform(0, 6)), rng.normal(0.3 - 0.6 * label, 0.1, len(t))], axis=1))
        y.append(["slow", "fast"][label])
    return X, np.array(y)


@pytest.mark.parametrize("features", ["last", "mean", "model_space"])
@pytest.mark.parametrize("readout", ["ridge", "logistic"])
def test_classifier_learns_a_toy_task_with_every_feature_and_readout(features, readout):
    X, y = _toy()
    clf = rr.ESNClassifier(units=60, spectral_radius=0.9, leak_rate=0.5, input_connectivity=1.0,
                           features=features, readout=readout, n_components=8, seed=1)  # fmt: skip
    clf.fit(X[:40], y[:40])
    assert set(clf.classes_) == {"fast", "slow"}
    assert clf.score(X[40:], y[40:]) >= 0.9
    assert clf.decision_function(X[40:]).shape == (20, 2)
    if readout == "logistic":
        p = clf.predict_proba(X[40:])
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
    else:
        with pytest.raises(AttributeError, match="logistic"):
            clf.predict_proba(X[40:])


def test_features_match_the_reference():
    X, y = _toy(12)
    for features in ("last", "mean", "model_space"):
        clf = rr.ESNClassifier(units=20, features=features, n_components=5, model_space_ridge=0.3, seed=2).fit(X, y)
        states = [clf.reservoir_.run(x) for x in X]
        got = clf.transform(X)
        if features == "last":
            want = np.stack([s[-1] for s in states])
        elif features == "mean":
            want = np.stack([s.mean(axis=0) for s in states])
        else:
            allst = np.concatenate(states)
            cov = np.cov(allst.T, bias=True) * len(allst)
            evals, evecs = np.linalg.eigh(cov)
            comps = evecs[:, np.argsort(evals)[::-1][:5]]
            # Axis signs are a convention: compare up to each axis' sign.
            signs = np.sign(np.sum(comps * clf.components_, axis=0))
            np.testing.assert_allclose(comps * signs, clf.components_, atol=1e-8)
            want = np.stack([ref.model_space((s - allst.mean(0)) @ clf.components_, 0.3) for s in states])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_batch_array_list_and_seed_reproducibility():
    X, y = _toy(20)
    Xb = np.stack([x[:8] for x in X])
    a = rr.ESNClassifier(units=30, seed=3).fit(Xb, y)
    b = rr.ESNClassifier(units=30, seed=3).fit(list(Xb), y)
    np.testing.assert_array_equal(a.decision_function(Xb), b.decision_function(list(Xb)))
    c = rr.ESNClassifier(units=30, seed=4).fit(Xb, y)
    assert not np.allclose(a.decision_function(Xb), c.decision_function(Xb))


def test_grid_search_cv_and_cross_val_score_work():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = _toy(40)
    gs = GridSearchCV(rr.ESNClassifier(units=30, seed=0), {"leak_rate": [0.1, 0.5], "features": ["last", "mean"]}, cv=3)
    gs.fit(X, y)
    assert gs.best_score_ >= 0.8 and set(gs.best_params_) == {"leak_rate", "features"}
    assert cross_val_score(rr.ESNClassifier(units=30), X, y, cv=3).mean() >= 0.8


def test_classifier_errors_are_clear():
    X, y = _toy(10)
    with pytest.raises(ValueError, match="one label per sequence"):
        rr.ESNClassifier(units=10).fit(X, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        rr.ESNClassifier(units=10).fit(X, np.zeros(10))
    with pytest.raises(ValueError, match="features"):
        rr.ESNClassifier(units=10, features="max").fit(X, y)
    with pytest.raises(ValueError, match="readout"):
        rr.ESNClassifier(units=10, readout="svm").fit(X, y)
    with pytest.raises(ValueError, match="at least 2 steps"):
        rr.ESNClassifier(units=10, features="model_space").fit([x[:1] for x in X], y)
    with pytest.raises(rr.reservoir.NotFittedError):
        rr.ESNClassifier(units=10).predict(X)
    clf = rr.ESNClassifier(units=10).fit(X, y)
    with pytest.raises(ValueError, match="features per step"):
        clf.predict([np.zeros((5, 3))])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict([np.full((5, 2), np.nan)])


def test_esn_fit_with_one_label_per_sequence_points_to_the_classifier():
    X, y = _toy(10)
    with pytest.raises(ValueError, match="ESNClassifier"):
        rr.ESN(units=10).fit(X, np.arange(10) % 2)
    Xb = np.stack([x[:7] for x in X])
    with pytest.raises(ValueError, match="ESNClassifier"):
        rr.ESN(units=10).fit(Xb, (np.arange(10) % 2).reshape(-1, 1))


def test_defaults_follow_reservoirpy():
    res = rr.Reservoir(50, seed=0).initialize(2)
    assert res.spectral_radius == 1.0 and res.bias_scaling == 0.0 and float(res.leak_rate) == 1.0
    assert not np.any(res.bias)
    rho = np.max(np.abs(np.linalg.eigvals(res.W)))
    assert rho == pytest.approx(1.0, rel=1e-6)
    assert rr.ESN().bias_scaling == 1.0  # documented difference (README defaults table)


def test_japanese_vowels_accuracy_at_least_097():
    X_train, y_train, X_test, y_test = rr.datasets.japanese_vowels()
    clf = rr.ESNClassifier(seed=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.97

import tracemalloc

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from brainlens.encoding.ridge import VoxelRidge

sklearn_linear = pytest.importorskip("sklearn.linear_model")
sklearn_selection = pytest.importorskip("sklearn.model_selection")

ALPHAS = np.logspace(-2, 4, 13)
SOLVERS = ("spectral", "explicit")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny problems gain nothing from threads, and on a busy machine waiting for them dominates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(n_samples=30, n_features=10, n_targets=3, seed=0, offset=5.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    Y = X @ rng.standard_normal((n_features, n_targets)) + rng.standard_normal((n_samples, n_targets)) + offset
    return X, Y


def graded_snr(n_samples=60, n_features=8, n_targets=12, seed=1):
    """Targets from almost pure noise to almost noiseless, so that the best alphas spread out."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    Y = X @ (rng.standard_normal((n_features, n_targets)) * np.logspace(-2, 0.5, n_targets))
    return X, Y + rng.standard_normal((n_samples, n_targets))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_sklearn_ridge_at_a_fixed_alpha(fit_intercept, solver):
    X, Y = tiny()
    reference = sklearn_linear.Ridge(alpha=3.0, fit_intercept=fit_intercept).fit(X, Y)
    model = VoxelRidge(alphas=[3.0], fit_intercept=fit_intercept, solver=solver, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(model.coef_, reference.coef_.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, reference.intercept_ if fit_intercept else 0.0, atol=1e-10)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), atol=1e-10)

    single = VoxelRidge(alphas=[3.0], fit_intercept=fit_intercept, solver=solver).fit(X, Y)
    assert single.coef_.dtype == np.float32
    np.testing.assert_allclose(single.coef_, reference.coef_.T, rtol=1e-4, atol=1e-5)


def test_more_features_than_samples_matches_sklearn():
    X, Y = tiny(n_samples=20, n_features=50)
    reference = sklearn_linear.Ridge(alpha=7.0).fit(X, Y)
    model = VoxelRidge(alphas=[7.0], cv=4, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(model.coef_, reference.coef_.T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-10)


def test_small_alpha_for_signal_large_for_noise():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 10))
    signal = X @ rng.standard_normal(10) + 0.1 * rng.standard_normal(100)
    Y = np.stack([signal, rng.standard_normal(100)], axis=1)
    model = VoxelRidge(cv=5).fit(X, Y)
    assert model.best_alphas_[0] <= 1.0
    assert model.best_alphas_[1] >= 1e3
    assert model.cv_scores_[0] > 0.9 and model.cv_scores_[1] < 0.05


@pytest.fixture(scope="module", params=[(60, 8), (40, 100)], ids=["primal", "dual"])
def sklearn_choice(request):
    """Data and scikit-learn's RidgeCV alphas with 5 contiguous folds, fitted target by target
    (with K-fold CV it shares one alpha over targets)."""
    X, Y = graded_snr(*request.param, n_targets=8)
    folds = sklearn_selection.KFold(5)
    expected = [sklearn_linear.RidgeCV(alphas=ALPHAS, cv=folds).fit(X, y).alpha_ for y in Y.T]
    return X, Y, folds, expected


@pytest.mark.parametrize("solver", SOLVERS)
def test_best_alphas_match_sklearn_ridgecv_with_the_same_folds(sklearn_choice, solver):
    X, Y, folds, expected = sklearn_choice
    assert len(set(expected)) >= 4  # the case really tests per-target choices
    for cv in (5, folds):
        model = VoxelRidge(alphas=ALPHAS, cv=cv, solver=solver, dtype="float64").fit(X, Y)
        np.testing.assert_array_equal(model.best_alphas_, expected)
    float32 = VoxelRidge(alphas=ALPHAS, cv=5, solver=solver).fit(X, Y)
    np.testing.assert_array_equal(float32.best_alphas_, expected)


def drifting(n_samples=60, n_features=8, n_targets=8, seed=0, n_blocks=5, drift=1.0):
    """Graded-SNR targets whose features and responses shift by a random offset in each of
    ``n_blocks`` contiguous blocks (sessions drifting apart), so that a training fold's means differ
    from those of all the data: centring a validation fold on the wrong mean changes its scores."""
    rng = np.random.default_rng(seed)
    block = np.arange(n_samples) * n_blocks // n_samples
    X = rng.standard_normal((n_samples, n_features)) + drift * rng.standard_normal((n_blocks, n_features))[block]
    W = rng.standard_normal((n_features, n_targets)) * np.logspace(-1.5, 0.5, n_targets)
    noise = rng.standard_normal((n_samples, n_targets)) + drift * rng.standard_normal((n_blocks, n_targets))[block]
    return X, X @ W + noise


def numpy_ridge_cv(X, Y, alphas, n_folds, fit_intercept=True):
    """The documented choice, by hand: contiguous folds (the first n % n_folds one row larger),
    a ridge fit per fold and alpha on the training rows centred on their own means, R² of each
    validation fold about its own mean, averaged over folds; the best mean R² wins, ties to the
    largest alpha. Returns (best alphas, mean R² at them), each (n_targets,)."""
    alphas = np.sort(np.asarray(alphas, dtype=np.float64))
    rows = np.arange(len(X))
    scores = np.zeros((alphas.size, Y.shape[1]))
    for val in np.array_split(rows, n_folds):
        train = np.setdiff1d(rows, val)
        x_mean = X[train].mean(0) if fit_intercept else np.zeros(X.shape[1])
        y_mean = Y[train].mean(0) if fit_intercept else np.zeros(Y.shape[1])
        Xt, Yt = X[train] - x_mean, Y[train] - y_mean
        sst = ((Y[val] - Y[val].mean(0)) ** 2).sum(0)
        for i, alpha in enumerate(alphas):
            weights = np.linalg.solve(Xt.T @ Xt + alpha * np.eye(X.shape[1]), Xt.T @ Yt)
            prediction = (X[val] - x_mean) @ weights + y_mean
            scores[i] += 1.0 - ((Y[val] - prediction) ** 2).sum(0) / sst
    scores /= n_folds
    best = alphas.size - 1 - scores[::-1].argmax(0)
    return alphas[best], scores[best, np.arange(Y.shape[1])]


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("shape", [(63, 8), (43, 100)], ids=["primal", "dual"])
def test_cv_scores_match_a_per_fold_numpy_reference(shape, fit_intercept, solver):
    # 63 and 43 rows do not split evenly into 5 folds: the larger folds must come first
    X, Y = drifting(*shape, n_targets=6, seed=4)
    alphas, scores = numpy_ridge_cv(X, Y, ALPHAS, 5, fit_intercept)
    assert len(set(alphas)) >= 3  # the case really tests per-voxel choices
    model = VoxelRidge(alphas=ALPHAS, cv=5, fit_intercept=fit_intercept, solver=solver, dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(model.best_alphas_, alphas)
    np.testing.assert_allclose(model.cv_scores_, scores, rtol=1e-9, atol=1e-12)
    float32 = VoxelRidge(alphas=ALPHAS, cv=5, fit_intercept=fit_intercept, solver=solver).fit(X, Y)
    assert float32.cv_scores_.dtype == np.float64
    np.testing.assert_array_equal(float32.best_alphas_, alphas)
    np.testing.assert_allclose(float32.cv_scores_, scores, rtol=0, atol=1e-5)


@pytest.fixture(scope="module", params=[(60, 8), (40, 100)], ids=["primal", "dual"])
def drifting_choice(request):
    """Drifting data and scikit-learn's RidgeCV with 5 contiguous folds, target by target: the chosen
    alphas and mean validation R² (``best_score_``), and the alphas it would choose if every fold were
    centred on the means of all the data (validation rows included) instead of its training rows'."""
    X, Y = drifting(*request.param, seed=1)
    folds = sklearn_selection.KFold(5)
    fits = [sklearn_linear.RidgeCV(alphas=ALPHAS, cv=folds).fit(X, y) for y in Y.T]
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    leaky = [sklearn_linear.RidgeCV(alphas=ALPHAS, cv=folds, fit_intercept=False).fit(Xc, y).alpha_ for y in Yc.T]
    return X, Y, [f.alpha_ for f in fits], [f.best_score_ for f in fits], leaky


@pytest.mark.parametrize("solver", SOLVERS)
def test_folds_are_centred_on_their_training_rows_only(drifting_choice, solver):
    X, Y, expected, best_scores, leaky = drifting_choice
    # the data tell the two centrings apart, and per voxel
    assert sum(a != b for a, b in zip(expected, leaky)) >= 5 and len(set(expected)) >= 3
    for dtype in ("float64", "float32"):
        model = VoxelRidge(alphas=ALPHAS, cv=5, solver=solver, dtype=dtype).fit(X, Y)
        np.testing.assert_array_equal(model.best_alphas_, expected)
        np.testing.assert_allclose(model.cv_scores_, best_scores, rtol=0, atol=1e-10 if dtype == "float64" else 1e-5)


def test_progress_adds_up_to_the_voxels_past_the_first_chunk():
    # the CLI adds each call to its bar: with cumulative counts 5,000 voxels showed as 11,144
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    Y = rng.standard_normal((12, 5000))
    done = []
    VoxelRidge(alphas=[1.0, 10.0], cv=3).fit(X, Y, progress=done.append)
    assert done == [2048, 2048, 904]
    assert sum(done) == 5000


@pytest.mark.parametrize("shape", [(60, 8), (40, 100)])
def test_spectral_and_explicit_solvers_agree(shape):
    X, Y = graded_snr(*shape)
    fits = [VoxelRidge(alphas=ALPHAS, solver=s, dtype="float64").fit(X, Y) for s in SOLVERS]
    np.testing.assert_allclose(fits[0].cv_scores_, fits[1].cv_scores_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fits[0].best_alphas_, fits[1].best_alphas_)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-12, atol=1e-14)


def test_repeated_and_zero_eigenvalues():
    # one-hot features of equal-sized classes plus a duplicated column: after centring, the Gram
    # matrix has one eigenvalue many times over and a zero one, where partial fractions break down
    rng = np.random.default_rng(3)
    onehot = np.kron(np.eye(6), np.ones((8, 1)))  # (48, 6)
    continuous = rng.standard_normal((48, 2))
    X = np.hstack([onehot, continuous, continuous[:, :1]])
    Y = X @ rng.standard_normal((9, 5)) + rng.standard_normal((48, 5))
    splits = sklearn_selection.KFold(4, shuffle=True, random_state=0)
    fits = [VoxelRidge(alphas=ALPHAS, cv=splits, solver=s, dtype="float64").fit(X, Y) for s in SOLVERS]
    np.testing.assert_allclose(fits[0].cv_scores_, fits[1].cv_scores_, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fits[0].best_alphas_, fits[1].best_alphas_)
    reference = sklearn_linear.Ridge(alpha=0.5).fit(X, Y)
    single = VoxelRidge(alphas=[0.5], dtype="float64").fit(X, Y)
    np.testing.assert_allclose(single.predict(X), reference.predict(X), atol=1e-9)


def repeated_images(seed=0, n_images=40, n_repeats=3, n_features=60):
    """Each image shown n_repeats times; responses are image-specific but unrelated to the features.

    Features are identical across repeats, so a weakly regularised model memorises each training
    image; if repeats of a validation image sit in the training set, that looks like generalisation.
    """
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_images, n_features))
    image_response = rng.standard_normal((n_images, 4))
    image = np.tile(np.arange(n_images), n_repeats)  # repeat blocks: every fold holds other repeats' images
    Y = image_response[image] + 0.3 * rng.standard_normal((image.size, 4))
    return features[image], Y, image


@pytest.mark.filterwarnings("ignore:The groups parameter is ignored by KFold")
def test_groups_keep_repeats_of_an_image_in_one_fold():
    X, Y, image = repeated_images()
    leaky = VoxelRidge(cv=5).fit(X, Y)
    grouped = VoxelRidge(cv=5).fit(X, Y, groups=image)
    # leakage: validation images were seen in training, so tiny alphas look best and score well
    assert leaky.best_alphas_.max() < 10 and leaky.cv_scores_.min() > 0.5
    assert grouped.best_alphas_.min() >= 10 * leaky.best_alphas_.max()
    assert grouped.cv_scores_.max() < 0.1

    # a group-aware scikit-learn splitter gives the same kind of answer
    via_splitter = VoxelRidge(cv=sklearn_selection.GroupKFold(5)).fit(X, Y, groups=image)
    assert via_splitter.best_alphas_.min() >= 10 * leaky.best_alphas_.max()
    # a splitter that ignores groups is refused rather than silently leaking
    with pytest.raises(ValueError, match="puts group .* in both training and validation"):
        VoxelRidge(cv=sklearn_selection.KFold(5)).fit(X, Y, groups=image)


def test_predict_and_score_shapes():
    X, Y = tiny(n_targets=4)
    Y[:, 3] = 0.1  # a constant voxel: every alpha ties, the largest wins, R² is 0
    model = VoxelRidge(alphas=ALPHAS).fit(X, Y)
    assert model.coef_.shape == (10, 4) and model.intercept_.shape == (4,)
    assert model.best_alphas_.shape == (4,) and model.cv_scores_.shape == (4,)
    assert model.n_features_in_ == 10
    assert model.predict(X[:7]).shape == (7, 4)
    scores = model.score(X, Y)
    assert scores.shape == (4,) and scores.dtype == np.float64
    assert model.best_alphas_[3] == ALPHAS.max() and scores[3] == 0.0 and model.cv_scores_[3] == 0.0
    Y, prediction = Y[:, :3], model.predict(X)[:, :3].astype(np.float64)
    r2 = 1 - ((Y - prediction) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(scores[:3], r2, rtol=1e-5)


def test_chunking_gives_the_same_result():
    X, Y = graded_snr(n_targets=23)
    whole = VoxelRidge(alphas=ALPHAS, dtype="float64", chunk_size=1000).fit(X, Y)
    for chunk_size in (1, 7):
        done = []
        chunked = VoxelRidge(alphas=ALPHAS, dtype="float64", chunk_size=chunk_size).fit(X, Y, progress=done.append)
        # one call per chunk with the voxels it held, the last one short
        assert done == [chunk_size] * (23 // chunk_size) + [23 % chunk_size] * (23 % chunk_size > 0)
        np.testing.assert_array_equal(chunked.best_alphas_, whole.best_alphas_)
        np.testing.assert_allclose(chunked.coef_, whole.coef_, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(chunked.cv_scores_, whole.cv_scores_, rtol=0, atol=1e-12)
        np.testing.assert_allclose(chunked.score(X, Y), whole.score(X, Y), atol=1e-12)


def test_fit_leaves_inputs_alone_and_reads_memmaps(tmp_path):
    X, Y = tiny()
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    X_copy, Y_copy = X.copy(), Y.copy()
    model = VoxelRidge(alphas=ALPHAS).fit(X, Y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(Y, Y_copy)
    on_disk = np.lib.format.open_memmap(tmp_path / "Y.npy", mode="w+", dtype=np.float32, shape=Y.shape)
    on_disk[:] = Y
    from_disk = VoxelRidge(alphas=ALPHAS).fit(X, on_disk)
    np.testing.assert_array_equal(from_disk.coef_, model.coef_)


class LargestTensor(TorchDispatchMode):
    """Records the number of elements of the largest tensor any torch operation returns."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                self.numel = max(self.numel, tensor.numel())
        return out


def test_memory_is_bounded_by_the_chunk_not_the_voxels():
    rng = np.random.default_rng(0)
    n_samples, n_features, chunk = 60, 20, 16
    X = rng.standard_normal((n_samples, n_features)).astype(np.float32)
    largest, working = {}, {}
    for n_voxels in (32, 128):
        Y = rng.standard_normal((n_samples, n_voxels)).astype(np.float32)
        model = VoxelRidge(alphas=ALPHAS, chunk_size=chunk)
        with LargestTensor() as mode:
            model.fit(X, Y)
        tracemalloc.start()
        model.fit(X, Y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        outputs = sum(a.nbytes for a in (model.coef_, model.intercept_, model.best_alphas_, model.cv_scores_))
        largest[n_voxels], working[n_voxels] = mode.numel, peak - outputs
    # torch side: no intermediate larger than X or a chunk of Y, whatever the number of voxels
    assert largest[32] == largest[128] <= n_samples * max(n_features, chunk)
    # numpy side (what tracemalloc sees): beyond the outputs, no growth with four times the voxels
    assert working[128] < working[32] + 4 * 1024


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(X=np.zeros(30)), r"X must be 2-D \(n_samples, n_features\); got shape \(30,\)"),
        (dict(Y=np.zeros(30)), r"Y must be 2-D \(n_samples, n_voxels\); got shape \(30,\)"),
        (dict(Y=np.zeros((29, 3))), "Inconsistent number of samples: X has 30 rows, Y has 29"),
        (dict(bad=("X", np.nan)), r"X contains NaN or infinity \(first at row 4, column 2\)"),
        (dict(bad=("Y", np.inf)), r"Y contains NaN or infinity \(first at row 4, column 2\)"),
        (dict(X=np.zeros((30, 0))), "X must have at least one sample and one of n_features"),
        (dict(X=np.full((30, 10), "a")), "X must hold real numbers"),
        (dict(backend="jax"), r"Unknown backend='jax'; must be one of \('torch',\)"),
        (dict(solver="cholesky"), r"Unknown solver='cholesky'; must be one of \('spectral', 'explicit'\)"),
        (dict(dtype="float16"), "Unknown dtype='float16'"),
        (dict(device="tpu"), "Unknown device='tpu'"),
        (dict(chunk_size=0), "chunk_size must be a positive integer; 0 was provided"),
        (dict(alphas=[1.0, 0.0]), r"alphas must be positive and finite; \[1.0, 0.0\] was provided"),
        (dict(alphas=[1.0, -2.0]), "alphas must be positive and finite"),
        (dict(alphas=[[1.0]]), r"alphas must be a non-empty 1-D sequence; got shape \(1, 1\)"),
        (dict(alphas=[]), r"alphas must be a non-empty 1-D sequence; got shape \(0,\)"),
        (dict(cv=1), "cv must be between 2 and n_samples=30; 1 was provided"),
        (dict(cv="folds"), "cv must be an integer or have a split"),
        (dict(groups=np.zeros(29)), r"groups must have shape \(30,\) to match X; got \(29,\)"),
        (dict(groups=np.arange(30) % 3), "cv=5 needs at least 5 distinct groups; groups has 3"),
    ],
)
def test_bad_input_names_the_thing_and_value(change, message):
    data = dict(zip("XY", tiny()))
    if "bad" in change:
        name, value = change.pop("bad")
        data[name][4, 2] = value
    X, Y = change.pop("X", data["X"]), change.pop("Y", data["Y"])
    groups = change.pop("groups", None)
    with pytest.raises(ValueError, match=message):
        VoxelRidge(**change).fit(X, Y, groups=groups)


def test_cuda_unavailable_is_a_value_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="device='cuda' was requested, but CUDA is not available"):
        VoxelRidge(device="cuda").fit(*tiny())


def test_predict_and_score_check_their_input():
    X, Y = tiny()
    with pytest.raises(ValueError, match="not fitted yet"):
        VoxelRidge().predict(X)
    model = VoxelRidge(alphas=ALPHAS).fit(X, Y)
    with pytest.raises(ValueError, match="X has 9 features, but VoxelRidge was fitted with 10"):
        model.predict(X[:, :9])
    with pytest.raises(ValueError, match=r"Y must have shape \(30, 3\)"):
        model.score(X, Y[:, :2])


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    X, Y = graded_snr(n_targets=50)
    cpu = VoxelRidge(alphas=ALPHAS, dtype="float64").fit(X, Y)
    cuda = VoxelRidge(alphas=ALPHAS, dtype="float64", device="cuda").fit(X, Y)
    np.testing.assert_array_equal(cuda.best_alphas_, cpu.best_alphas_)
    np.testing.assert_allclose(cuda.coef_, cpu.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cuda.score(X, Y), cpu.score(X, Y), atol=1e-10)

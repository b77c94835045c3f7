"""Tests for cvae.explorer.maths.latent: quantiles, the manifold grid's layout, interpolation, the PCA plane."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_probability as tfp

from cvae.explorer.maths import latent
import reference


def test_normal_quantiles_match_tfp():
    for n, lo, hi in ((20, 0.05, 0.95), (5, 0.05, 0.95), (1, 0.05, 0.95), (7, 0.001, 0.999)):
        q = latent.normal_quantiles(n, lo, hi)
        assert q.shape == (n,) and q.dtype == np.float32
        np.testing.assert_allclose(q, reference.normal_quantiles_tfp(n, lo, hi), atol=1e-5)
    probs = np.linspace(0.05, 0.95, 19, dtype=np.float32)  # 0.05, 0.10, ..., 0.95
    expected = tfp.distributions.Normal(0.0, 1.0).quantile(probs).numpy()
    np.testing.assert_allclose(latent.normal_quantiles(19), expected, atol=1e-5)
    # Known values: the 5% quantile and symmetry around the median.
    q = latent.normal_quantiles(19)
    np.testing.assert_allclose(q[0], -1.6448536, atol=1e-6)
    np.testing.assert_allclose(q, -q[::-1], atol=1e-6)
    assert q[9] == pytest.approx(0.0, abs=1e-7)
    assert latent.PRIOR_LOW == pytest.approx(-3.090232, abs=1e-5) and latent.PRIOR_HIGH == -latent.PRIOR_LOW


@pytest.mark.parametrize("args", [(0, 0.05, 0.95), (101, 0.05, 0.95), (5, 0.0, 0.9), (5, 0.5, 0.5),
                                  (5, 0.9, 0.1), (5, 0.1, 1.0), (2.0, 0.1, 0.9)])
def test_quantile_arguments_checked(args):
    with pytest.raises(ValueError):
        latent.normal_quantiles(*args)
    with pytest.raises(ValueError):
        reference.normal_quantiles_tfp(*args)


def test_manifold_codes_layout_row_major():
    gx = np.array([-1.0, 0.0, 1.0], np.float32)
    gy = np.array([10.0, 20.0], np.float32)
    z = latent.manifold_codes(gx, gy)
    assert z.shape == (6, 2) and z.dtype == np.float32
    # Image (i, j) of a 2-row x 3-column grid is code i * 3 + j: z = [grid_x[j], grid_y[i]].
    for i in range(2):
        for j in range(3):
            assert z[i * 3 + j].tolist() == [gx[j], gy[i]]


def test_manifold_codes_dims_and_base():
    gx = np.array([1.0, 2.0], np.float32)
    gy = np.array([3.0, 4.0, 5.0], np.float32)
    base = np.array([0.5, -0.5, 0.25, 7.0], np.float32)
    z = latent.manifold_codes(gx, gy, latent_dim=4, dims=(3, 1), base=base)
    assert z.shape == (6, 4)
    np.testing.assert_array_equal(z[:, 3], np.tile(gx, 3))  # column index -> dims[0]
    np.testing.assert_array_equal(z[:, 1], np.repeat(gy, 2))  # row index -> dims[1]
    np.testing.assert_array_equal(z[:, 0], 0.5)
    np.testing.assert_array_equal(z[:, 2], 0.25)
    np.testing.assert_array_equal(base, [0.5, -0.5, 0.25, 7.0])  # not modified in place
    zero = latent.manifold_codes(gx, gy, latent_dim=3, dims=(2, 0))
    np.testing.assert_array_equal(zero[:, 1], 0.0)
    for dims in ((0, 0), (0, 4), (-1, 1)):
        with pytest.raises(ValueError, match="dims"):
            latent.manifold_codes(gx, gy, latent_dim=4, dims=dims)


def test_lerp_endpoints_and_evenness():
    z0, z1 = np.array([1.0, -2.0, 0.5]), np.array([-3.0, 4.0, 0.5])
    path = latent.lerp(z0, z1, 5)
    assert path.shape == (5, 3) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], z0)
    np.testing.assert_allclose(path[-1], z1)
    steps = np.diff(path, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to((z1 - z0) / 4, steps.shape), atol=1e-6)


def test_slerp_endpoints_and_norms():
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal(8)
    z1 = rng.standard_normal(8)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)  # equal norms: the path stays on that sphere
    path = latent.slerp(z0, z1, 9)
    assert path.shape == (9, 8) and path.dtype == np.float32
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-5)
    # Equal angles between consecutive points.
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
    # Lerp of the same endpoints cuts inside the sphere.
    assert np.linalg.norm(latent.lerp(z0, z1, 9)[4]) < np.linalg.norm(z0) * 0.999
    # Unequal norms: the norm moves monotonically between them.
    a, b = np.array([3.0, 0.0]), np.array([0.0, 1.0])
    norms = np.linalg.norm(latent.slerp(a, b, 7), axis=1)
    assert norms[0] == pytest.approx(3.0) and norms[-1] == pytest.approx(1.0)


def test_slerp_degenerate_cases_fall_back_to_lerp():
    z = np.array([1.0, 2.0])
    np.testing.assert_allclose(latent.slerp(z, z, 4), np.tile(z, (4, 1)), atol=1e-6)  # same direction
    np.testing.assert_allclose(latent.slerp(np.zeros(2), z, 3), latent.lerp(np.zeros(2), z, 3))  # zero vector
    assert np.isfinite(latent.slerp(z, 2 * z, 5)).all()


def test_pca2_round_trip_on_principal_plane():
    rng = np.random.default_rng(1)
    # Codes in 6-D that lie on a 2-D affine plane: the projection is lossless for them.
    basis = np.linalg.qr(rng.standard_normal((6, 2)))[0].T  # (2, 6) orthonormal rows
    coords = rng.standard_normal((50, 2)) * [3.0, 1.0]
    offset = rng.standard_normal(6)
    codes = coords @ basis + offset
    pca = latent.PCA2(codes)
    np.testing.assert_allclose(pca.explained.sum(), 1.0, atol=1e-9)
    assert pca.explained[0] > pca.explained[1]
    pts = pca.transform(codes)
    assert pts.shape == (50, 2)
    np.testing.assert_allclose(pca.inverse(pts), codes, atol=1e-4)
    # Any point of the plane maps back to itself too; the mean maps to the origin.
    grid = rng.standard_normal((10, 2)).astype(np.float32)
    np.testing.assert_allclose(pca.transform(pca.inverse(grid)), grid, atol=1e-4)
    np.testing.assert_allclose(pca.transform(codes.mean(axis=0, keepdims=True)), [[0.0, 0.0]], atol=1e-5)
    # Components are orthonormal.
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-9)


def test_pca2_general_codes_projects_onto_plane():
    rng = np.random.default_rng(2)
    codes = rng.standard_normal((200, 5)) * [5.0, 2.0, 0.5, 0.3, 0.1]
    pca = latent.PCA2(codes)
    back = pca.inverse(pca.transform(codes))
    # Off-plane parts are dropped; projecting twice changes nothing.
    np.testing.assert_allclose(pca.inverse(pca.transform(back)), back, atol=1e-4)
    # The plane is the high-variance one (first two axes here).
    assert np.abs(pca.components[:, :2]).sum() > 1.9
    assert pca.explained.sum() > 0.95


def test_pca2_latent_dim_1():
    codes = np.array([[1.0], [2.0], [4.0]])
    pca = latent.PCA2(codes)
    pts = pca.transform(codes)
    np.testing.assert_allclose(pts[:, 1], 0.0)
    np.testing.assert_allclose(pca.inverse(pts), codes, atol=1e-6)

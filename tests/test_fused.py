"""The fused C kernels (reptile/engine/fused.c) against the PyTorch operations they replace, in float64."""

import pytest
import torch

from reptile.engine import fused
from reptile.engine.network import Conv4, conv_input_grad, im2col_patches

KERNEL_TOL = 1e-12  # float64: a fused kernel vs the PyTorch operations, relative to the largest value
EPS = 1e-3


@pytest.fixture(autouse=True)
def loaded(monkeypatch):
    monkeypatch.setenv("REPTILE_FUSED", "1")
    if fused.library() is None:
        pytest.fail(f"the fused kernels did not load ({fused.unavailable()}); set REPTILE_FUSED=0 to run without")


def reference_forward(z, gamma, beta, out):
    xhat = z - z.mean(2, keepdim=True)
    inv = torch.rsqrt(xhat.square().mean(2, keepdim=True) + EPS)
    xhat = xhat * inv
    out.copy_(torch.clamp_min(xhat * gamma[:, None, None] + beta[:, None, None], 0).view(out.shape))
    return xhat, inv


def reference_backward(da, a, xhat, inv, gamma):
    S, G, R, C = xhat.shape
    dy = torch.where(a > 0, da, 0).reshape(xhat.shape)
    dbeta, dgamma = dy.sum(2, keepdim=True), (dy * xhat).sum(2, keepdim=True)
    c1 = gamma[:, None, None] * inv
    dz = c1 * (dy - dbeta / R - xhat * dgamma / R)
    return dz.reshape(S, G * R, C), dgamma.sum(1)[:, 0], dbeta.sum(1)[:, 0]


def case(S=3, G=4, B=5, H=7, C=64, seed=0):
    """Pre-activations, affine parameters, and an output living inside a padded buffer (strided), as in the net."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(S, G, B * H * H, C, generator=g, dtype=torch.float64) * 3 + 1
    gamma, beta = torch.randn(S, C, generator=g, dtype=torch.float64), torch.randn(S, C, generator=g,
                                                                                   dtype=torch.float64)
    a = torch.zeros(S, G * B, H + 2, H + 1, C, dtype=torch.float64)[:, :, 1:-1, :H]
    da = torch.randn(S, G * B, H + 1, H + 1, C, generator=g, dtype=torch.float64)[:, :, 1:, :H]
    return z, gamma, beta, a, da


def close(got, want):
    assert (got - want).abs().max() <= KERNEL_TOL * want.abs().max()


def test_batch_norm_relu_forward_and_backward_match_pytorch():
    z, gamma, beta, a, da = case()
    a_ref = torch.zeros_like(a)
    xhat_ref, inv_ref = reference_forward(z, gamma, beta, a_ref)
    xhat, inv = fused.bn_relu_forward(z.clone(), gamma, beta, a, EPS)
    for got, want in [(xhat, xhat_ref), (inv, inv_ref), (a, a_ref)]:
        close(got, want)
    assert (a == 0).float().mean() > 0.2  # the ReLU is exercised
    dgamma, dbeta = torch.empty_like(gamma), torch.empty_like(beta)
    dz = fused.bn_relu_backward(da, a, xhat, inv, gamma, dgamma, dbeta)
    for got, want in zip((dz, dgamma, dbeta), reference_backward(da, a, xhat, inv, gamma)):
        close(got, want)


@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_im2col_gives_the_patches_of_the_strided_view(layer):
    """A copy: the same numbers, bit for bit, as the unfolded view ``network.im2col_patches`` copies, for every layer
    (28 x 28 with one channel, then 14, 7 and 4 with 64), in both types; a strided input is refused."""
    lay, S, N = Conv4(5).layers[layer], 2, 3
    full = lay.size + sum(lay.pad)
    for dtype in (torch.float32, torch.float64):
        ap = torch.randn(S, N, full, full, lay.c_in, generator=torch.Generator().manual_seed(layer), dtype=dtype)
        got = fused.im2col(ap, lay.out)
        assert got.shape == (S, N * lay.out ** 2, 9 * lay.c_in) and torch.equal(got, im2col_patches(ap, lay))
    with pytest.raises(ValueError, match="contiguous padded input"):
        fused.im2col(ap.transpose(2, 3), lay.out)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_col2im_matches_the_per_offset_sum(layer, monkeypatch):
    lay, S, N = Conv4(5).layers[layer], 2, 3
    g = torch.Generator().manual_seed(layer)
    dz = torch.randn(S, N * lay.out ** 2, lay.c_out, generator=g, dtype=torch.float64)
    kernel = torch.randn(S, 9 * lay.c_in, lay.c_out, generator=g, dtype=torch.float64)
    want = conv_input_grad(dz, kernel, lay, S, N, fast=False)
    got = conv_input_grad(dz, kernel, lay, S, N, fast=True)
    assert got.shape == want.shape == (S, N, lay.size, lay.size, lay.c_in)
    close(got, want)


def test_results_do_not_depend_on_the_thread_count():
    before = torch.get_num_threads()
    outputs = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            z, gamma, beta, a, da = case(S=2, G=1, B=6, H=14)
            xhat, inv = fused.bn_relu_forward(z, gamma, beta, a, EPS)
            dgamma, dbeta = torch.empty_like(gamma), torch.empty_like(beta)
            dz = fused.bn_relu_backward(da, a, xhat, inv, gamma, dgamma, dbeta)
            cols = torch.randn(2, 5 * 49, 9 * 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
            dx = fused.col2im(cols, 5, 14, 7, 0)
            outputs.append([xhat, inv, a, dz, dgamma, dbeta, dx])
    finally:
        torch.set_num_threads(before)
    for other in outputs[1:]:
        assert all(torch.equal(u, v) for u, v in zip(outputs[0], other))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adam_step_is_the_formula_in_one_pass(dtype):
    """The fused inner Adam (beta1 = 0): the second moment bit for bit as PyTorch's mul_ and addcmul_ compute it
    (one fused multiply-add), and the weights bit for bit as the formula with a correctly rounded square root
    (numpy's, elementwise in the same type; PyTorch's own CPU sqrt may differ from it in the last bit). Thread
    counts change nothing."""
    import math

    import numpy as np

    g = torch.Generator().manual_seed(3)
    n = 100_003  # not a multiple of any vector width
    w0 = torch.randn(n, generator=g, dtype=dtype)
    grad = torch.randn(n, generator=g, dtype=dtype) * 10.0 ** torch.randint(-6, 2, (n,), generator=g).to(dtype)
    v0 = torch.rand(n, generator=g, dtype=dtype) * 1e-3
    b2, eps, lr_t = 0.999, 1e-8, 1e-3 * math.sqrt(1 - 0.999**7)
    v_want = v0.clone().mul_(b2).addcmul_(grad, grad, value=1 - b2)
    t = np.dtype(str(dtype).split(".")[1]).type
    w_want = w0.numpy() + (t(-lr_t) * grad.numpy()) / (np.sqrt(v_want.numpy()) + t(eps))
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            w, v = w0.clone(), v0.clone()
            fused.adam_b1zero(w, grad, v, b2, -lr_t, eps)
            assert torch.equal(v, v_want) and np.array_equal(w.numpy(), w_want)
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="contiguous"):
        fused.adam_b1zero(w0[::2], grad[::2], v0[::2], b2, -lr_t, eps)


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_norm_relu_directional_derivatives_match_pytorch(threads):
    """MAML's Hessian-vector product: the R-operator kernels against reptile.maml.population's PyTorch formulas
    (the forward's R{xhat}, R{inv}, R{a}; the backward's dz, R{dz} and the derivatives of gamma's and beta's
    gradients), on an output living inside a padded buffer as in the network, on 1 and 2 threads."""
    from reptile.maml import population as P

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        z, gamma, beta, a, da = case(G=1)
        S, _, R, C = z.shape
        xhat, inv = fused.bn_relu_forward(z.clone(), gamma, beta, a, EPS)
        g = torch.Generator().manual_seed(1)
        u, rgamma, rbeta, rda = (torch.randn(*shape, generator=g, dtype=torch.float64)
                                 for shape in ((S, R, C), (S, C), (S, C), (S, R, C)))
        xh, iv = xhat.view(S, R, C), inv.view(S, 1, C)
        # the PyTorch path's forward (population._hvp without the fused kernels)
        m_xu = (xh * u).sum(1, keepdim=True) / R
        rxhat_ref = (u - u.mean(1, keepdim=True) - xh * m_xu) * iv
        rinv_ref = -iv * iv * m_xu
        on = (a > 0).to(a.dtype).reshape(S, R, C)
        ra_ref = (rbeta[:, None] + rxhat_ref * gamma[:, None] + xh * rgamma[:, None]) * on
        rxhat, rinv, ra = fused.bn_relu_rop_forward(u.clone(), xh, iv, a, gamma, rgamma, rbeta)
        for got, want in [(rxhat, rxhat_ref), (rinv, rinv_ref), (ra, ra_ref)]:
            close(got, want)
        assert 0.2 < float(on.mean()) < 0.8  # the ReLU is exercised
        h_ref = torch.empty_like(gamma), torch.empty_like(beta)
        dz_ref, rdz_ref = P._bn_relu_rop_backward(da.contiguous(), rda, xh, rxhat_ref, iv, rinv_ref, gamma, rgamma, on,
                                                  *h_ref)
        h = torch.empty_like(gamma), torch.empty_like(beta)
        dz, rdz = fused.bn_relu_rop_backward(da, rda, a, xh, rxhat, iv, rinv, gamma, rgamma, *h)
        for got, want in [(dz, dz_ref), (rdz, rdz_ref), (h[0], h_ref[0]), (h[1], h_ref[1])]:
            close(got, want)
    finally:
        torch.set_num_threads(before)

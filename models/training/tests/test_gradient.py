"""The chunked linear form against the paper's naive O(N^2) masked form: values and gradients."""
import torch

from attention_linear import linear_chunk
from layers import elu1


def naive_linear(q, k, v, eps):
    """Katharopoulos et al. 2020 eq. 6 written out: V'_i = sum_{j<=i} phi(Q_i).phi(K_j) V_j / sum_{j<=i} phi(Q_i).phi(K_j)."""
    qf, kf = elu1(q), elu1(k)
    a = (qf @ kf.transpose(-1, -2)).tril()  # (B, H, N, N)
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)


def chunked_linear(q, k, v, eps, c):
    b, h, n, d = q.shape
    s, z = torch.zeros(b, h, d, d, dtype=q.dtype), torch.zeros(b, h, d, dtype=q.dtype)
    outs = []
    for i in range(0, n, c):
        o, s, z = linear_chunk(elu1(q[:, :, i : i + c]), elu1(k[:, :, i : i + c]), v[:, :, i : i + c], s, z, torch.zeros(h), eps)
        outs.append(o)
    return torch.cat(outs, dim=2)


def test_chunked_linear_matches_naive_values_and_gradients():
    torch.manual_seed(0)
    shape = (2, 3, 1100, 8)
    q, k, v = (torch.randn(shape, dtype=torch.float64, requires_grad=True) for _ in range(3))
    upstream = torch.randn(shape, dtype=torch.float64)
    ref = naive_linear(q, k, v, 1e-6)
    ref_grads = torch.autograd.grad((ref * upstream).sum(), (q, k, v))
    for c in (1, 16, 64, 1100):
        got = chunked_linear(q, k, v, 1e-6, c)
        grads = torch.autograd.grad((got * upstream).sum(), (q, k, v))
        assert (got - ref).abs().max().item() <= 1e-4
        for name, g, r in zip("qkv", grads, ref_grads):
            err = (g - r).abs().max().item()
            assert err <= 1e-4 * max(1.0, r.abs().max().item()), f"d{name} differs by {err:.2e} with chunk {c}"

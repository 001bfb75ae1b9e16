"""Stand-ins for nn.Linear and nn.Conv2d that multiply by the nonzero weights only.

Weights are stored as torch CSR tensors and multiplied with `torch.addmm(bias, W_csr, dense)`.
We measured scipy.sparse (csr_matrix @ ndarray) against it on this project's layers (1 thread,
torch 2.13, scipy 1.17, CPU): scipy took 2-3x less time per layer at batch 1 (less overhead per
call), but torch's CSR addmm was ~1.5x faster at batch 64 and 1000 on the fc1 layers of
LeNet-5-Caffe and LeNet-300-100, which hold most of the MACs; and torch needs no new dependency
(scipy is only a test extra here). So: torch CSR.
"""

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from prunelab.errors import PrunelabError

# Columns of one chunk of im2col, in bytes. The CSR kernel walks a whole row of columns for each
# nonzero weight; when a chunk fits in cache it ran 2-3x faster at batch 1000 than one big matrix.
CHUNK_BYTES = 1 << 20


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight a layer really applies (LeNet5_1998's SparseConv2d multiplies by `connections`)."""
    weight = module.weight.detach()
    links = getattr(module, "connections", None)
    return weight * links if links is not None else weight.clone()


def to_csr(matrix: torch.Tensor) -> torch.Tensor:
    """A 2-D tensor in CSR form, without torch's "CSR support is in beta" warning on every call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return matrix.to_sparse_csr()


def column_bias(module: nn.Module, out_features: int) -> torch.Tensor:
    """The bias as an (out, 1) column, broadcast by addmm over the batch; zeros when there is none."""
    if module.bias is None:
        return module.weight.new_zeros(out_features, 1)
    return module.bias.detach().clone()[:, None]


class CSRModule(nn.Module):
    """Base of the CSR layers: makes copy.deepcopy work (Tensor.__deepcopy__ fails on CSR tensors)."""

    def __deepcopy__(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        rest = {key: value for key, value in self.__dict__.items() if key != "_buffers"}
        clone.__dict__.update(copy.deepcopy(rest, memo))
        clone.__dict__["_buffers"] = {k: None if v is None else v.clone() for k, v in self._buffers.items()}
        return clone


class CSRLinear(CSRModule):
    """y = x W^T + b, computed as (W x^T + b)^T with W in CSR form (work ~ nonzero weights).

    torch has a fast CSR @ dense but not dense @ CSR, hence the transposes; both are views, and
    the next CSRLinear's x^T is then contiguous again. One image goes through addmv instead:
    measured 1.5-2x cheaper per call than addmm on LeNet-300-100's layers.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight", to_csr(effective_weight(linear)))  # (out, in)
        self.register_buffer("bias", column_bias(linear, self.out_features)[:, 0])  # (out,)

    def forward(self, x):
        rows = x.reshape(-1, self.in_features)  # (N, in)
        if rows.shape[0] == 1:
            y = torch.addmv(self.bias, self.weight, rows[0])[None]  # (1, out)
        else:
            y = torch.addmm(self.bias[:, None], self.weight, rows.t()).t()  # (N, out), a view
        return y.reshape(*x.shape[:-1], self.out_features)


def dense_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A plain nn.Conv2d on the effective weight: PyTorch's own kernel, connection table folded in."""
    plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        plain.weight.copy_(effective_weight(conv))
        if conv.bias is not None:
            plain.bias.copy_(conv.bias)
    return plain.to(conv.weight.device).requires_grad_(False)


def supports_im2col(conv: nn.Conv2d) -> bool:
    return conv.groups == 1 and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


class CSRConv2d(CSRModule):
    """Convolution as im2col + CSR matmul: W (out, C*kh*kw) @ columns (C*kh*kw, N*Ho*Wo).

    im2col here is an as_strided view of the padded input, copied once straight into the layout
    the matmul reads. F.unfold gives (N, C*kh*kw, L) and so needs a second copy (a transpose);
    on LeNet layers that made the whole layer 2-5x slower, so we build the columns ourselves.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if not supports_im2col(conv):
            raise PrunelabError("sparse convolution needs groups=1, zero padding given as numbers")
        weight = effective_weight(conv)  # (out, C, kh, kw)
        self.register_buffer("weight", to_csr(weight.reshape(weight.shape[0], -1)))
        self.register_buffer("bias", column_bias(conv, weight.shape[0]))
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation

    def forward(self, x):  # (N, C, H, W)
        ph, pw = self.padding
        if ph or pw:
            x = F.pad(x, (pw, pw, ph, ph))
        out_h, out_w = (self.output_size(x.shape[2 + i], i) for i in range(2))
        per_image = self.weight.shape[1] * out_h * out_w * x.element_size()
        chunk = max(1, CHUNK_BYTES // per_image)
        if chunk >= x.shape[0]:
            return self.convolve(x, out_h, out_w)
        return torch.cat([self.convolve(x[i:i + chunk], out_h, out_w) for i in range(0, x.shape[0], chunk)])

    def output_size(self, size: int, axis: int) -> int:
        span = self.dilation[axis] * (self.kernel_size[axis] - 1) + 1
        return (size - span) // self.stride[axis] + 1

    def convolve(self, x, out_h, out_w):
        n, c = x.shape[:2]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        step_n, step_c, step_h, step_w = x.stride()
        # (C, kh, kw, N, Ho, Wo): row (c, i, j) of the columns is the input shifted by (i, j)
        view = x.as_strided((c, kh, kw, n, out_h, out_w),
                            (step_c, dh * step_h, dw * step_w, step_n, sh * step_h, sw * step_w))
        columns = view.reshape(c * kh * kw, n * out_h * out_w)  # the one copy
        y = torch.addmm(self.bias, self.weight, columns)  # (out, N*Ho*Wo)
        return y.view(-1, n, out_h, out_w).transpose(0, 1)  # (N, out, Ho, Wo)

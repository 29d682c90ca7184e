"""Matrix products: ``matmul`` and ``affine`` (the linear layer's op)."""

from mesimp_engine.graph import OuterGrad, apply
from mesimp_engine.kernels.blas import matmul as gemm
from mesimp_engine.ops.base import Op


class MatMul(Op):
    """y = a @ b.  a: (n, m), b: (m, p) -> y: (n, p).  da = dy @ b^T, db = a^T @ dy (returned
    as its factors, ``OuterGrad``: the graph sums every use of b in one product)."""

    linear = True

    def forward(self, a, b):
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise self.shape_error("a @ b needs a (n, m) and b (m, p)", a.shape, b.shape)
        self.a, self.b = a, b
        return gemm(a, b)

    def backward(self, dy, needs):
        da = gemm(dy, self.b.T) if needs[0] else None
        db = OuterGrad(self.a, dy) if needs[1] else None
        return da, db


def matmul(a, b):
    return apply(MatMul(), a, b)


class Affine(Op):
    """y = x W^T + b.  x: (B, in), W: (out, in), b: (out,) optional -> y: (B, out).

    dx = dy W, dW = dy^T x, db = sum_B dy.  dW is returned as its factors (``OuterGrad``):
    the graph multiplies once per weight, however many times the weight was used.
    """

    linear = True

    def forward(self, x, W, b=None):
        if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[1]:
            raise self.shape_error("x (B, in) and W (out, in) must share in", x.shape, W.shape)
        if b is not None and b.shape != (W.shape[0],):
            raise self.shape_error("bias must be (out,)", W.shape, b.shape)
        self.x, self.W = x, W
        y = gemm(x, W.T)
        if b is not None:
            y += b
        return y

    def backward(self, dy, needs):
        dx = gemm(dy, self.W) if needs[0] else None
        dW = OuterGrad(dy, self.x) if needs[1] else None
        if len(needs) == 3:
            return dx, dW, (dy.sum(axis=0) if needs[2] else None)
        return dx, dW


def affine(x, W, b=None, name=None):
    if b is None:
        return apply(Affine(), x, W, name=name)
    return apply(Affine(), x, W, b, name=name)

"""Optimisers over ``Parameter`` lists, stepping in place through the backend's native kernels."""

from __future__ import annotations

from .backend import array_namespace


class _Optimizer:
    def __init__(self, backend, params):
        self.backend, self.params = backend, list(params)
        self.t = 0  # steps taken

    def zero_grad(self):
        for p in self.params:
            p.set_dense_grad().fill(0)


class SGD(_Optimizer):
    """SGD with (Nesterov) momentum; ``weight_decay`` is L2 on the parameters marked ``decay``."""

    def __init__(self, backend, params, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(backend, params)
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.velocity = [array_namespace(p.value).zeros_like(p.value) if momentum else None for p in self.params]

    def step(self):
        self.t += 1
        for p, v in zip(self.params, self.velocity):
            kw = dict(lr=self.lr, momentum=self.momentum, nesterov=self.nesterov,
                      weight_decay=self.weight_decay if p.decay else 0.0)
            if p.rows is not None:  # row-compact gradient: every row stepped, no dense zero-filled copy
                self.backend.sgd_step_rows(p.value, p.rows, p.grad_rows, v, **kw)
            else:
                self.backend.sgd_step(p.value, p.grad, v, **kw)


class Adam(_Optimizer):
    """Adam; ``weight_decay`` is L2 (or AdamW's decoupled decay) on the parameters marked ``decay``."""

    def __init__(self, backend, params, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 decoupled=False):
        super().__init__(backend, params)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self.m = [array_namespace(p.value).zeros_like(p.value) for p in self.params]
        self.v = [array_namespace(p.value).zeros_like(p.value) for p in self.params]

    def step(self):
        self.t += 1
        for p, m, v in zip(self.params, self.m, self.v):
            kw = dict(t=self.t, lr=self.lr, beta1=self.beta1, beta2=self.beta2, eps=self.eps,
                      weight_decay=self.weight_decay if p.decay else 0.0, decoupled=self.decoupled)
            if p.rows is not None:  # row-compact gradient: no dense zero-filled copy is built
                self.backend.adam_step_rows(p.value, p.rows, p.grad_rows, m, v, **kw)
            else:
                self.backend.adam_step(p.value, p.grad, m, v, **kw)


class RProp(_Optimizer):
    """iRprop− (full-batch; AutoRec's optimiser). ``lr`` is the initial per-weight step size."""

    def __init__(self, backend, params, *, lr=0.01, eta_minus=0.5, eta_plus=1.2, step_min=1e-6, step_max=50.0):
        super().__init__(backend, params)
        self.kw = dict(eta_minus=eta_minus, eta_plus=eta_plus, step_min=step_min, step_max=step_max)
        self.prev = [array_namespace(p.value).zeros_like(p.value) for p in self.params]
        self.steps = [array_namespace(p.value).full_like(p.value, lr) for p in self.params]

    def step(self):
        self.t += 1
        for p, prev, st in zip(self.params, self.prev, self.steps):
            self.backend.rprop_step(p.value, p.dense_grad(), prev, st, **self.kw)

// aerec — the optimiser update rules for one element (PyTorch's rules), written once and used by
// the CPU bodies (src/optim.cpp, inside `omp simd` loops) and the CUDA kernels (cuda/optim.cu), so
// both targets evaluate the same expression in the same order.
#pragma once

#include <cmath>
#include <cstdint>

#include "aerec/common.h"

namespace aerec {

// SGD with momentum:  g ← g + wd·p;  v ← μ·v + g;  p ← p − lr·(Nesterov ? g + μ·v : v).
// velocity == nullptr means no momentum: p ← p − lr·g.
template <class T>
AEREC_HD void sgd_update(T& param, T grad, T* velocity, T lr, T mu, T wd, bool nesterov) {
    T g = grad + wd * param;
    if (velocity) {
        const T v = mu * *velocity + g;
        *velocity = v;
        g = nesterov ? g + mu * v : v;
    }
    param -= lr * g;
}

// Adam's per-step constants (bias corrections folded in), computed once per step on the host.
template <class T>
struct AdamConstants {
    T b1, b2, one_b1, one_b2, step, inv_sqrt_bc2, eps, l2, shrink;

    AdamConstants(int64_t t, double lr, double beta1, double beta2, double eps_, double weight_decay, bool decoupled)
        : b1(T(beta1)), b2(T(beta2)), one_b1(T(1.0 - beta1)), one_b2(T(1.0 - beta2)),
          step(T(lr / (1.0 - std::pow(beta1, static_cast<double>(t))))),
          inv_sqrt_bc2(T(1.0 / std::sqrt(1.0 - std::pow(beta2, static_cast<double>(t))))),
          eps(T(eps_)),
          l2(decoupled ? T(0) : T(weight_decay)), shrink(decoupled ? T(1.0 - lr * weight_decay) : T(1)) {}
};

// One Adam element: L2 (g ← g + wd·p) or AdamW (p ← p·(1 − lr·wd)), then
// m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
template <class T>
AEREC_HD void adam_update(const AdamConstants<T>& k, T& param, T grad, T& m, T& v) {
    const T p = param * k.shrink;
    const T g = grad + k.l2 * param;
    const T mi = k.b1 * m + k.one_b1 * g;
    const T vi = k.b2 * v + k.one_b2 * g * g;
    m = mi;
    v = vi;
    param = p - k.step * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
}

// iRprop− (PyTorch's Rprop): the step grows by eta_plus while the gradient keeps its sign, shrinks
// by eta_minus on a flip (the update is skipped and the remembered gradient zeroed);
// p ← p − sign(g)·step. (min/max written out as std::min/std::max define them.)
template <class T>
AEREC_HD void rprop_update(T& param, T grad, T& prev_grad, T& step_size, T eta_minus, T eta_plus, T step_min,
                           T step_max) {
    T g = grad;
    const T s = g * prev_grad;
    T st = step_size;
    if (s > T(0)) {
        const T up = st * eta_plus;
        st = step_max < up ? step_max : up;
    } else if (s < T(0)) {
        const T down = st * eta_minus;
        st = down < step_min ? step_min : down;
        g = T(0);
    }
    step_size = st;
    param -= (g > T(0) ? st : (g < T(0) ? -st : T(0)));
    prev_grad = g;
}

}  // namespace aerec

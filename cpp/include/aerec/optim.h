// aerec — optim: optimiser steps, in place, elementwise (PyTorch's update rules).
#pragma once

#include <cstdint>

#include "aerec/common.h"

namespace aerec {

// SGD with momentum:  g ← g + wd·p;  v ← μ·v + g;  p ← p − lr·(Nesterov ? g + μ·v : v).
// With momentum 0, velocity may be nullptr and p ← p − lr·g.
template <class T>
void sgd_step(T* param, const T* grad, T* velocity, int64_t n, double lr, double momentum, bool nesterov,
              double weight_decay, int n_threads);

// SGD on an (n_rows, n_cols) parameter whose gradient is zero outside some rows (slot as in
// adam_step_rows below). Every row is still updated (weight decay, momentum), so the result is
// bit-identical to sgd_step with the dense gradient, without building or reading that gradient.
template <class T>
void sgd_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* velocity,
                   double lr, double momentum, bool nesterov, double weight_decay, int n_threads);

// Adam (Kingma & Ba) at step t ≥ 1. L2 (decoupled = false): g ← g + wd·p. AdamW (decoupled =
// true): p ← p·(1 − lr·wd) before the step.  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
// p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε).
template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, int64_t t, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled, int n_threads);

// Adam on an (n_rows, n_cols) parameter whose gradient is zero outside some rows: grad_rows holds
// only the rows listed in slot (slot[r] = position of row r in grad_rows, or −1 for a zero
// gradient). Every row is still updated (m and v decay, as in dense Adam), so the result is
// bit-identical to adam_step with the dense gradient — without building or reading that gradient.
template <class T>
void adam_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* m, T* v,
                    int64_t t, double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                    int n_threads);

// RProp without weight backtracking (iRprop−, PyTorch's Rprop): per-weight step sizes grow by
// eta_plus while the gradient keeps its sign and shrink by eta_minus when it flips (the update is
// skipped and the remembered gradient zeroed on a flip); p ← p − sign(g)·step.
template <class T>
void rprop_step(T* param, const T* grad, T* prev_grad, T* step_size, int64_t n, double eta_minus, double eta_plus,
                double step_min, double step_max, int n_threads);

}  // namespace aerec

// aerec — optim on the GPU: optimiser steps in place over device arrays, with the per-element
// rules of include/aerec/optim_rules.h (shared with the CPU bodies).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

template <class T>
cudaError_t sgd_step(T* param, const T* grad, T* velocity, int64_t n, double lr, double momentum, bool nesterov,
                     double weight_decay, cudaStream_t stream);

template <class T>
cudaError_t adam_step(T* param, const T* grad, T* m, T* v, int64_t n, int64_t t, double lr, double beta1,
                      double beta2, double eps, double weight_decay, bool decoupled, cudaStream_t stream);

// slot: (n_rows,) int64, the row's position in grad_rows (n_present, n_cols) or −1 (zero gradient).
template <class T>
cudaError_t sgd_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows,
                          T* velocity, double lr, double momentum, bool nesterov, double weight_decay,
                          cudaStream_t stream);

template <class T>
cudaError_t adam_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* m,
                           T* v, int64_t t, double lr, double beta1, double beta2, double eps, double weight_decay,
                           bool decoupled, cudaStream_t stream);

template <class T>
cudaError_t rprop_step(T* param, const T* grad, T* prev_grad, T* step_size, int64_t n, double eta_minus,
                       double eta_plus, double step_min, double step_max, cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

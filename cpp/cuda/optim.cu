// aerec — optim on the GPU: grid-stride elementwise kernels over optim_rules.h, so an update is
// the same expression as on the CPU (equal to rounding; the compilers may contract differently).
#include "optim.h"

#include "aerec/optim_rules.h"
#include "common.cuh"

namespace aerec {
namespace cuda {
namespace {

template <class T>
__global__ void sgd_kernel(T* __restrict param, const T* __restrict grad, T* __restrict velocity, int64_t n, T lr,
                           T mu, T wd, bool nesterov) {
    for (int64_t i = global_index(); i < n; i += grid_stride())
        sgd_update(param[i], grad[i], velocity ? velocity + i : nullptr, lr, mu, wd, nesterov);
}

template <class T>
__global__ void sgd_rows_kernel(T* __restrict param, int64_t n_rows, int64_t n_cols, const int64_t* __restrict slot,
                                const T* __restrict grad_rows, T* __restrict velocity, T lr, T mu, T wd,
                                bool nesterov) {
    const int64_t n = n_rows * n_cols;
    for (int64_t i = global_index(); i < n; i += grid_stride()) {
        const int64_t s = slot[i / n_cols];
        sgd_update(param[i], s >= 0 ? grad_rows[s * n_cols + i % n_cols] : T(0), velocity ? velocity + i : nullptr,
                   lr, mu, wd, nesterov);
    }
}

template <class T>
__global__ void adam_kernel(AdamConstants<T> k, T* __restrict param, const T* __restrict grad, T* __restrict m,
                            T* __restrict v, int64_t n) {
    for (int64_t i = global_index(); i < n; i += grid_stride()) adam_update(k, param[i], grad[i], m[i], v[i]);
}

template <class T>
__global__ void adam_rows_kernel(AdamConstants<T> k, T* __restrict param, int64_t n_rows, int64_t n_cols,
                                 const int64_t* __restrict slot, const T* __restrict grad_rows, T* __restrict m,
                                 T* __restrict v) {
    const int64_t n = n_rows * n_cols;
    for (int64_t i = global_index(); i < n; i += grid_stride()) {
        const int64_t s = slot[i / n_cols];
        adam_update(k, param[i], s >= 0 ? grad_rows[s * n_cols + i % n_cols] : T(0), m[i], v[i]);
    }
}

template <class T>
__global__ void rprop_kernel(T* __restrict param, const T* __restrict grad, T* __restrict prev_grad,
                             T* __restrict step_size, int64_t n, T em, T ep, T smin, T smax) {
    for (int64_t i = global_index(); i < n; i += grid_stride())
        rprop_update(param[i], grad[i], prev_grad[i], step_size[i], em, ep, smin, smax);
}

}  // namespace

template <class T>
cudaError_t sgd_step(T* param, const T* grad, T* velocity, int64_t n, double lr, double momentum, bool nesterov,
                     double weight_decay, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    sgd_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(param, grad, velocity, n, T(lr), T(momentum),
                                                          T(weight_decay), nesterov);
    return cudaGetLastError();
}

template <class T>
cudaError_t sgd_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows,
                          T* velocity, double lr, double momentum, bool nesterov, double weight_decay,
                          cudaStream_t stream) {
    if (n_rows == 0 || n_cols == 0) return cudaSuccess;
    sgd_rows_kernel<T><<<blocks_for(n_rows * n_cols), kThreads, 0, stream>>>(
        param, n_rows, n_cols, slot, grad_rows, velocity, T(lr), T(momentum), T(weight_decay), nesterov);
    return cudaGetLastError();
}

template <class T>
cudaError_t adam_step(T* param, const T* grad, T* m, T* v, int64_t n, int64_t t, double lr, double beta1,
                      double beta2, double eps, double weight_decay, bool decoupled, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    const AdamConstants<T> k(t, lr, beta1, beta2, eps, weight_decay, decoupled);
    adam_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(k, param, grad, m, v, n);
    return cudaGetLastError();
}

template <class T>
cudaError_t adam_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* m,
                           T* v, int64_t t, double lr, double beta1, double beta2, double eps, double weight_decay,
                           bool decoupled, cudaStream_t stream) {
    if (n_rows == 0 || n_cols == 0) return cudaSuccess;
    const AdamConstants<T> k(t, lr, beta1, beta2, eps, weight_decay, decoupled);
    adam_rows_kernel<T><<<blocks_for(n_rows * n_cols), kThreads, 0, stream>>>(k, param, n_rows, n_cols, slot,
                                                                               grad_rows, m, v);
    return cudaGetLastError();
}

template <class T>
cudaError_t rprop_step(T* param, const T* grad, T* prev_grad, T* step_size, int64_t n, double eta_minus,
                       double eta_plus, double step_min, double step_max, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    rprop_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(param, grad, prev_grad, step_size, n, T(eta_minus),
                                                            T(eta_plus), T(step_min), T(step_max));
    return cudaGetLastError();
}

#define AEREC_INSTANTIATE(T)                                                                                        \
    template cudaError_t sgd_step<T>(T*, const T*, T*, int64_t, double, double, bool, double, cudaStream_t);       \
    template cudaError_t sgd_step_rows<T>(T*, int64_t, int64_t, const int64_t*, const T*, T*, double, double, bool,  \
                                          double, cudaStream_t);                                                    \
    template cudaError_t adam_step<T>(T*, const T*, T*, T*, int64_t, int64_t, double, double, double, double,      \
                                      double, bool, cudaStream_t);                                                  \
    template cudaError_t adam_step_rows<T>(T*, int64_t, int64_t, const int64_t*, const T*, T*, T*, int64_t, double, \
                                           double, double, double, double, bool, cudaStream_t);                     \
    template cudaError_t rprop_step<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, cudaStream_t);
AEREC_INSTANTIATE(float)
AEREC_INSTANTIATE(double)
#undef AEREC_INSTANTIATE

}  // namespace cuda
}  // namespace aerec

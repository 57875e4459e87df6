// aerec — activations on the GPU: host-side launchers for device pointers (the caller owns the memory,
// e.g. CuPy arrays, and the stream). The per-element maths is elementwise.h/random.h, shared with
// the CPU kernels.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

template <class T>
cudaError_t activation_forward(int kind, T alpha, const T* Z, int64_t n, T* Y, cudaStream_t stream);

template <class T>
cudaError_t activation_backward(int kind, T alpha, const T* Z, const T* Y, const T* dY, int64_t n, T* dZ,
                                cudaStream_t stream);

template <class T>
cudaError_t dropout(const T* X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
                    int64_t row_offset, T* Y, cudaStream_t stream);

// Uniform [0, 1) (24 bits) and standard normal (Box–Muller in double) draws, keyed like dropout.
template <class T>
cudaError_t random_uniform(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                           cudaStream_t stream);
template <class T>
cudaError_t random_normal(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                          cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

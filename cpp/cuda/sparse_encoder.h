// aerec — sparse_encoder on the GPU: Z = D·drop(X)·W + b and its weight gradient (include/aerec/
// sparse_encoder.h has the maths). Host-side launchers over device pointers; the caller owns the
// memory (e.g. CuPy arrays) and the stream.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

// coef: (nnz,) scratch for the per-entry multipliers (dropout draws included).
template <class T, class I>
cudaError_t sparse_encoder_forward(const I* indptr, const I* indices, const T* data, int64_t n_rows,
                                   const T* W,          // (n_items, h)
                                   const T* b,          // (h,) or nullptr
                                   const T* row_scale,  // (n_rows,) or nullptr
                                   int64_t h, double dropout, uint64_t seed, uint64_t step, int64_t row_offset,
                                   T* coef, T* Z, cudaStream_t stream);

// The item-major view of X (im_*: int64, built by the caller; see aerec.engine.cuda): item p =
// items[p] holds entries [ptr[p], ptr[p+1]), each with its row and its position in X's arrays.
// dW: (m, h) rows of the present items; coef: (nnz,) scratch. db is left to the array library.
template <class T>
cudaError_t sparse_encoder_backward(const T* data, const int64_t* im_items, const int64_t* im_ptr,
                                    const int64_t* im_rows, const int64_t* im_pos, int64_t m, int64_t n_rows,
                                    const T* dZ,         // (n_rows, h)
                                    const T* row_scale,  // (n_rows,) or nullptr
                                    int64_t h, double dropout, uint64_t seed, uint64_t step, int64_t row_offset,
                                    T* coef, T* dW, cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

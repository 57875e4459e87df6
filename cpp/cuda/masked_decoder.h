// aerec — masked_decoder on the GPU: out_k = H[r]·V[j] + c[j] at a CSR mask's entries (SDDMM) and the
// gradients scattered back (include/aerec/masked_decoder.h has the maths).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

template <class T, class I>
cudaError_t masked_decoder_forward(const I* indptr, const I* indices, int64_t n_rows,
                                   const T* H,  // (n_rows, h)
                                   const T* V,  // (n_items, h)
                                   const T* c,  // (n_items,) or nullptr
                                   int64_t h,
                                   T* out,  // (nnz,)
                                   cudaStream_t stream);

// dH (n_rows, h) or nullptr; dV (m, h) and dc (m,) or nullptr over the item-major view (int64
// im_ptr/im_rows/im_pos, m present items); coef: (nnz,) scratch.
template <class T, class I>
cudaError_t masked_decoder_backward(const I* indptr, const I* indices, int64_t n_rows, const int64_t* im_ptr,
                                    const int64_t* im_rows, const int64_t* im_pos, int64_t m, int64_t nnz,
                                    const T* H, const T* V, const T* d_out, int64_t h, T* coef, T* dH, T* dV, T* dc,
                                    cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

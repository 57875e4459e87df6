// aerec — topk on the GPU: the sort keys of a top-k (include/aerec/topk.h has the contract).
// keys[r, j] ranks item j of row r: the score's bits made order-preserving and complemented, so an
// ascending *stable* sort (CuPy's argsort) lists the best first and, among equal scores, the lower
// item index first — the CPU's tie rule. Items that may not be returned (NaN score, in the row's
// exclusion list, outside the candidates) get the largest key and sort last; the caller turns
// them into index −1 / score −inf. Keys are uint32 for float32 scores and uint64 for float64.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

template <class T, class I>
cudaError_t topk_keys(const T* scores, int64_t n_rows, int64_t n_items,
                      const I* excl_indptr, const I* excl_indices,  // CSR (n_rows, n_items), or nullptr
                      const uint8_t* allowed,                       // (n_items,) candidate mask, or nullptr
                      void* keys,                                   // (n_rows, n_items) out
                      cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

// aerec — gram on the GPU: the dense Gram matrix G = XᵀX of a CSR matrix (EASE's first step),
// from the item-major view over every column (col_ptr has n_items + 1 entries; absent items have
// empty ranges). include/aerec/gram.h has the maths.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

template <class T, class I>
cudaError_t sparse_gram(const I* indptr, const I* indices, const T* data, int64_t n_items,
                        const int64_t* col_ptr, const int64_t* col_rows, const int64_t* col_pos,
                        T* G,  // (n_items, n_items) out
                        cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

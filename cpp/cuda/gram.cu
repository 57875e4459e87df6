// aerec — gram on the GPU. A block owns row i of G: it zeroes the row, then walks the users
// holding item i in ascending order and, for each, adds x_ui·x_uj at G[i, j] for the user's items
// j, threads splitting the user's (unique) items. A barrier between users keeps each element's
// additions in user order — the CPU kernel's order, so no atomics and the same sums.
#include "gram.h"

#include "common.cuh"

namespace aerec {
namespace cuda {
namespace {

template <class T, class I>
__global__ void gram_kernel(const I* __restrict indptr, const I* __restrict indices, const T* __restrict data,
                            int64_t n, const int64_t* __restrict col_ptr, const int64_t* __restrict col_rows,
                            const int64_t* __restrict col_pos, T* __restrict G) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        T* g = G + i * n;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) g[j] = T(0);
        __syncthreads();
        for (int64_t t = col_ptr[i]; t < col_ptr[i + 1]; ++t) {
            const int64_t u = col_rows[t];
            const T a = data[col_pos[t]];
            for (int64_t k = static_cast<int64_t>(indptr[u]) + threadIdx.x; k < static_cast<int64_t>(indptr[u + 1]);
                 k += blockDim.x)
                g[static_cast<int64_t>(indices[k])] += a * data[k];
            __syncthreads();
        }
    }
}

}  // namespace

template <class T, class I>
cudaError_t sparse_gram(const I* indptr, const I* indices, const T* data, int64_t n_items, const int64_t* col_ptr,
                        const int64_t* col_rows, const int64_t* col_pos, T* G, cudaStream_t stream) {
    if (n_items == 0) return cudaSuccess;
    gram_kernel<T, I><<<row_blocks(n_items), kThreads, 0, stream>>>(indptr, indices, data, n_items, col_ptr,
                                                                     col_rows, col_pos, G);
    return cudaGetLastError();
}

#define AEREC_INSTANTIATE(T, I)                                                                                       \
    template cudaError_t sparse_gram<T, I>(const I*, const I*, const T*, int64_t, const int64_t*, const int64_t*, \
                                           const int64_t*, T*, cudaStream_t);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace cuda
}  // namespace aerec

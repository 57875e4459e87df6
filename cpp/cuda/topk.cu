// aerec — topk on the GPU: one pass writes every item's key, a second marks the excluded
// entries (a warp per row over its exclusion list); the array library sorts. Simple and exact;
// its cost is a segmented sort of the score block, fine for batched recommend.
#include "topk.h"

#include "common.cuh"

namespace aerec {
namespace cuda {
namespace {

template <class T>
struct KeyBits;
template <>
struct KeyBits<float> {
    using U = uint32_t;
    __device__ static U of(float s) { return static_cast<U>(__float_as_uint(s + 0.0f)); }  // −0 → +0
    static constexpr U kSign = 0x80000000u;
};
template <>
struct KeyBits<double> {
    using U = uint64_t;
    __device__ static U of(double s) { return static_cast<U>(__double_as_longlong(s + 0.0)); }
    static constexpr U kSign = 0x8000000000000000ull;
};

template <class T>
__global__ void keys_kernel(const T* __restrict scores, int64_t n_rows, int64_t n_items,
                            const uint8_t* __restrict allowed, typename KeyBits<T>::U* __restrict keys) {
    using U = typename KeyBits<T>::U;
    const int64_t n = n_rows * n_items;
    for (int64_t i = global_index(); i < n; i += grid_stride()) {
        const T s = scores[i];
        const bool ok = !(s != s) && (!allowed || allowed[i % n_items]);
        U u = KeyBits<T>::of(s);
        u = (u & KeyBits<T>::kSign) ? ~u : (u | KeyBits<T>::kSign);  // order-preserving, as topk.cpp
        keys[i] = ok ? static_cast<U>(~u) : ~U(0);  // complemented: ascending = best first
    }
}

template <class U, class I>
__global__ void exclude_kernel(const I* __restrict indptr, const I* __restrict indices, int64_t n_rows,
                               int64_t n_items, U* __restrict keys) {
    const int64_t warps = grid_stride() / kWarp;
    const int lane = threadIdx.x % kWarp;
    for (int64_t r = global_index() / kWarp; r < n_rows; r += warps)
        for (int64_t k = static_cast<int64_t>(indptr[r]) + lane; k < static_cast<int64_t>(indptr[r + 1]); k += kWarp)
            keys[r * n_items + static_cast<int64_t>(indices[k])] = ~U(0);
}

}  // namespace

template <class T, class I>
cudaError_t topk_keys(const T* scores, int64_t n_rows, int64_t n_items, const I* excl_indptr, const I* excl_indices,
                      const uint8_t* allowed, void* keys, cudaStream_t stream) {
    using U = typename KeyBits<T>::U;
    if (n_rows == 0 || n_items == 0) return cudaSuccess;
    U* k = static_cast<U*>(keys);
    keys_kernel<T><<<blocks_for(n_rows * n_items), kThreads, 0, stream>>>(scores, n_rows, n_items, allowed, k);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || !excl_indptr) return err;
    exclude_kernel<U, I><<<blocks_for(n_rows * kWarp), kThreads, 0, stream>>>(excl_indptr, excl_indices, n_rows,
                                                                               n_items, k);
    return cudaGetLastError();
}

#define AEREC_INSTANTIATE(T, I)                                                                                \
    template cudaError_t topk_keys<T, I>(const T*, int64_t, int64_t, const I*, const I*, const uint8_t*, void*, \
                                         cudaStream_t);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace cuda
}  // namespace aerec

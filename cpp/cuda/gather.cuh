// aerec — the GPU form of include/aerec/gather.h, the one sparse×dense loop behind the sparse layers:
//
//   out[r, :] = init + Σ_{k ∈ [ptr[r], ptr[r+1])} coef[k] · src[idx[k], :]
//
// Thread (r, c) owns out[r, c] and adds its terms in index order: no atomics, and the result does
// not depend on the launch shape. A block covers one output row and up to kThreads columns
// (blockIdx.y tiles wider rows); consecutive threads read consecutive columns of a src row, so
// every load is coalesced. Used for the encoder's forward pass and weight gradient, and the
// decoder's dH and dV.
#pragma once

#include <cstdint>

#include "common.cuh"

namespace aerec {
namespace cuda {

template <class T, class P, class J>
__global__ void gather_accumulate_kernel(const P* __restrict ptr,   // (n_out + 1,)
                                         const J* __restrict idx,   // (nnz,) rows of src, in [0, n_src)
                                         const T* __restrict coef,  // (nnz,)
                                         int64_t n_out, int64_t h,
                                         const T* __restrict src,   // (n_src, h)
                                         const T* __restrict init,  // (h,) or nullptr
                                         T* __restrict out) {       // (n_out, h)
    const int64_t c = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
    if (c >= h) return;
    for (int64_t r = blockIdx.x; r < n_out; r += gridDim.x) {
        T acc = init ? init[c] : T(0);
        const int64_t k1 = static_cast<int64_t>(ptr[r + 1]);
        for (int64_t k = static_cast<int64_t>(ptr[r]); k < k1; ++k) {
            const T a = coef[k];
            if (a == T(0)) continue;  // dropped-out entries
            acc += a * src[static_cast<int64_t>(idx[k]) * h + c];
        }
        out[r * h + c] = acc;
    }
}

template <class T, class P, class J>
cudaError_t gather_accumulate(const P* ptr, const J* idx, const T* coef, int64_t n_out, int64_t h, const T* src,
                              const T* init, T* out, cudaStream_t stream) {
    if (n_out == 0 || h == 0) return cudaSuccess;
    const int threads = h >= kThreads ? kThreads : static_cast<int>((h + kWarp - 1) / kWarp * kWarp);
    const dim3 grid(static_cast<unsigned>(row_blocks(n_out)), static_cast<unsigned>((h + threads - 1) / threads));
    gather_accumulate_kernel<T, P, J><<<grid, threads, 0, stream>>>(ptr, idx, coef, n_out, h, src, init, out);
    return cudaGetLastError();
}

// out[p] = Σ_{t ∈ [ptr[p], ptr[p+1])} v[t]: one thread per segment, in index order.
template <class T>
__global__ void segment_sum_kernel(const int64_t* __restrict ptr, const T* __restrict v, int64_t m,
                                   T* __restrict out) {
    for (int64_t p = global_index(); p < m; p += grid_stride()) {
        T s = T(0);
        for (int64_t t = ptr[p]; t < ptr[p + 1]; ++t) s += v[t];
        out[p] = s;
    }
}

}  // namespace cuda
}  // namespace aerec

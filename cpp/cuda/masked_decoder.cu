// aerec — masked_decoder on the GPU. Forward: a block per row, a warp per stored entry, lanes over the
// hidden dimension and a shuffle reduction for the dot product. Backward: dH is the CSR gather of
// V weighted by d_out (gather.cuh), dV the item-major gather of H weighted by d_out in item order,
// dc a segment sum of the same weights — no atomics.
#include "masked_decoder.h"

#include "gather.cuh"

namespace aerec {
namespace cuda {
namespace {

template <class T, class I>
__global__ void sddmm_kernel(const I* __restrict indptr, const I* __restrict indices, int64_t n_rows,
                             const T* __restrict H, const T* __restrict V, const T* __restrict c, int64_t h,
                             T* __restrict out) {
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, n_warps = blockDim.x / kWarp;
    for (int64_t r = blockIdx.x; r < n_rows; r += gridDim.x) {
        const T* hr = H + r * h;
        for (int64_t k = static_cast<int64_t>(indptr[r]) + warp; k < static_cast<int64_t>(indptr[r + 1]);
             k += n_warps) {
            const int64_t j = static_cast<int64_t>(indices[k]);
            const T* v = V + j * h;
            T s = T(0);
            for (int64_t t = lane; t < h; t += kWarp) s += hr[t] * v[t];
            s = warp_sum(s);
            if (lane == 0) out[k] = c ? s + c[j] : s;
        }
    }
}

// coef[t] = d_out[pos[t]]: the item-major order of the output gradient.
template <class T>
__global__ void permute_kernel(const T* __restrict d_out, const int64_t* __restrict pos, int64_t n,
                               T* __restrict coef) {
    for (int64_t t = global_index(); t < n; t += grid_stride()) coef[t] = d_out[pos[t]];
}

}  // namespace

template <class T, class I>
cudaError_t masked_decoder_forward(const I* indptr, const I* indices, int64_t n_rows, const T* H, const T* V,
                                   const T* c, int64_t h, T* out, cudaStream_t stream) {
    if (n_rows == 0) return cudaSuccess;
    sddmm_kernel<T, I><<<row_blocks(n_rows), kThreads, 0, stream>>>(indptr, indices, n_rows, H, V, c, h, out);
    return cudaGetLastError();
}

template <class T, class I>
cudaError_t masked_decoder_backward(const I* indptr, const I* indices, int64_t n_rows, const int64_t* im_ptr,
                                    const int64_t* im_rows, const int64_t* im_pos, int64_t m, int64_t nnz,
                                    const T* H, const T* V, const T* d_out, int64_t h, T* coef, T* dH, T* dV, T* dc,
                                    cudaStream_t stream) {
    cudaError_t err = cudaSuccess;
    // dH[r] = Σ_{k in row r} d_out_k · V[j_k]
    if (dH) err = gather_accumulate<T, I, I>(indptr, indices, d_out, n_rows, h, V, nullptr, dH, stream);
    if (err != cudaSuccess || m == 0) return err;
    permute_kernel<T><<<blocks_for(nnz), kThreads, 0, stream>>>(d_out, im_pos, nnz, coef);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    // dV[p] = Σ_t d_out[pos_t] · H[rows_t];  dc[p] = Σ_t d_out[pos_t]
    err = gather_accumulate<T, int64_t, int64_t>(im_ptr, im_rows, coef, m, h, H, nullptr, dV, stream);
    if (err != cudaSuccess || !dc) return err;
    segment_sum_kernel<T><<<blocks_for(m), kThreads, 0, stream>>>(im_ptr, coef, m, dc);
    return cudaGetLastError();
}

#define AEREC_INSTANTIATE(T, I)                                                                                     \
    template cudaError_t masked_decoder_forward<T, I>(const I*, const I*, int64_t, const T*, const T*, const T*,    \
                                                      int64_t, T*, cudaStream_t);                                   \
    template cudaError_t masked_decoder_backward<T, I>(const I*, const I*, int64_t, const int64_t*, const int64_t*, \
                                                       const int64_t*, int64_t, int64_t, const T*, const T*,        \
                                                       const T*, int64_t, T*, T*, T*, T*, cudaStream_t);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace cuda
}  // namespace aerec

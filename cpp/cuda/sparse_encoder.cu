// aerec — sparse_encoder on the GPU. The per-entry multipliers (row scale × inverted dropout, the same
// Philox draw as the CPU: random.h's sparse_entry_coef) are computed once per call, then the
// gather of gather.cuh forms Z row by row (forward) or dW item by item (backward) — no atomics,
// same result for any launch shape.
#include "sparse_encoder.h"

#include "aerec/random.h"
#include "gather.cuh"

namespace aerec {
namespace cuda {
namespace {

// coef[k] for the CSR entries: a warp per row, lanes over the row's entries.
template <class T, class I>
__global__ void row_coef_kernel(const I* __restrict indptr, const I* __restrict indices, const T* __restrict data,
                                int64_t n_rows, const T* __restrict row_scale, double dropout, T keep_scale,
                                uint64_t seed, uint64_t step, int64_t row_offset, T* __restrict coef) {
    const int64_t warps = grid_stride() / kWarp;
    const int lane = threadIdx.x % kWarp;
    for (int64_t r = global_index() / kWarp; r < n_rows; r += warps) {
        const T scale = row_scale ? row_scale[r] : T(0);
        for (int64_t k = static_cast<int64_t>(indptr[r]) + lane; k < static_cast<int64_t>(indptr[r + 1]); k += kWarp)
            coef[k] = sparse_entry_coef<T>(data[k], row_scale != nullptr, scale, r, static_cast<int64_t>(indices[k]),
                                           dropout, keep_scale, seed, step, row_offset);
    }
}

// coef[t] for the item-major entries: a warp per present item, lanes over its entries.
template <class T>
__global__ void item_coef_kernel(const T* __restrict data, const int64_t* __restrict items,
                                 const int64_t* __restrict ptr, const int64_t* __restrict rows,
                                 const int64_t* __restrict pos, int64_t m, const T* __restrict row_scale,
                                 double dropout, T keep_scale, uint64_t seed, uint64_t step, int64_t row_offset,
                                 T* __restrict coef) {
    const int64_t warps = grid_stride() / kWarp;
    const int lane = threadIdx.x % kWarp;
    for (int64_t p = global_index() / kWarp; p < m; p += warps) {
        const int64_t j = items[p];
        for (int64_t t = ptr[p] + lane; t < ptr[p + 1]; t += kWarp) {
            const int64_t r = rows[t];
            coef[t] = sparse_entry_coef<T>(data[pos[t]], row_scale != nullptr, row_scale ? row_scale[r] : T(0), r, j,
                                           dropout, keep_scale, seed, step, row_offset);
        }
    }
}

inline int warp_blocks(int64_t n_groups) { return blocks_for(n_groups * kWarp); }

}  // namespace

template <class T, class I>
cudaError_t sparse_encoder_forward(const I* indptr, const I* indices, const T* data, int64_t n_rows, const T* W,
                                   const T* b, const T* row_scale, int64_t h, double dropout, uint64_t seed,
                                   uint64_t step, int64_t row_offset, T* coef, T* Z, cudaStream_t stream) {
    if (n_rows == 0 || h == 0) return cudaSuccess;
    const T keep_scale = dropout > 0.0 ? T(1.0 / (1.0 - dropout)) : T(1);
    row_coef_kernel<T, I><<<warp_blocks(n_rows), kThreads, 0, stream>>>(indptr, indices, data, n_rows, row_scale,
                                                                         dropout, keep_scale, seed, step, row_offset,
                                                                         coef);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    return gather_accumulate<T, I, I>(indptr, indices, coef, n_rows, h, W, b, Z, stream);
}

template <class T>
cudaError_t sparse_encoder_backward(const T* data, const int64_t* im_items, const int64_t* im_ptr,
                                    const int64_t* im_rows, const int64_t* im_pos, int64_t m, int64_t n_rows,
                                    const T* dZ, const T* row_scale, int64_t h, double dropout, uint64_t seed,
                                    uint64_t step, int64_t row_offset, T* coef, T* dW, cudaStream_t stream) {
    (void)n_rows;  // dZ's row count; checked by the binding
    if (m == 0 || h == 0) return cudaSuccess;
    const T keep_scale = dropout > 0.0 ? T(1.0 / (1.0 - dropout)) : T(1);
    item_coef_kernel<T><<<warp_blocks(m), kThreads, 0, stream>>>(data, im_items, im_ptr, im_rows, im_pos, m,
                                                                 row_scale, dropout, keep_scale, seed, step,
                                                                 row_offset, coef);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    // dW[p] = Σ_t coef_t · dZ[rows_t]
    return gather_accumulate<T, int64_t, int64_t>(im_ptr, im_rows, coef, m, h, dZ, nullptr, dW, stream);
}

#define AEREC_INSTANTIATE(T, I)                                                                                    \
    template cudaError_t sparse_encoder_forward<T, I>(const I*, const I*, const T*, int64_t, const T*, const T*,   \
                                                      const T*, int64_t, double, uint64_t, uint64_t, int64_t, T*, \
                                                      T*, cudaStream_t);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE
template cudaError_t sparse_encoder_backward<float>(const float*, const int64_t*, const int64_t*, const int64_t*,
                                                    const int64_t*, int64_t, int64_t, const float*, const float*,
                                                    int64_t, double, uint64_t, uint64_t, int64_t, float*, float*,
                                                    cudaStream_t);
template cudaError_t sparse_encoder_backward<double>(const double*, const int64_t*, const int64_t*, const int64_t*,
                                                     const int64_t*, int64_t, int64_t, const double*, const double*,
                                                     int64_t, double, uint64_t, uint64_t, int64_t, double*, double*,
                                                     cudaStream_t);

}  // namespace cuda
}  // namespace aerec

// aerec — sparse_encoder, CPU bodies: Z = D·drop(X)·W + b and its weight/bias gradients.
// Forward is row-parallel (each row writes its own Z[r]); backward is item-parallel over the
// item-major view (each present item writes its own dW row) — no atomics, same bits for any
// thread count.
#include "aerec/sparse_encoder.h"

#include <algorithm>
#include <vector>

#include "aerec/gather.h"
#include "aerec/parallel.h"
#include "aerec/random.h"

namespace aerec {
namespace {

// The multiplier of W[j] contributed by entry k = (r, j): D_r · x_k · mask / (1 − rate) (random.h).
template <class T>
inline T entry_coef(T x, const T* row_scale, int64_t r, int64_t j, double dropout, T keep_scale, uint64_t seed,
                    uint64_t step, int64_t row_offset) {
    return sparse_entry_coef<T>(x, row_scale != nullptr, row_scale ? row_scale[r] : T(0), r, j, dropout, keep_scale,
                                seed, step, row_offset);
}

}  // namespace

template <class T, class I>
void sparse_encoder_forward(const Csr<I, T>& X, const T* W, const T* b, const T* row_scale, int64_t h, double dropout,
                            uint64_t seed, uint64_t step, int64_t row_offset, T* Z, int n_threads) {
    const T keep_scale = dropout > 0.0 ? T(1.0 / (1.0 - dropout)) : T(1);
    // The per-entry multipliers once (dropout draws included), then Z = b + Σ coef·W[j] by tiles.
    std::vector<T> coef(static_cast<size_t>(X.indptr[X.n_rows]));
    parallel_for(X.n_rows, n_threads, [&](int64_t r) {
        for (int64_t k = X.indptr[r]; k < static_cast<int64_t>(X.indptr[r + 1]); ++k)
            coef[k] = entry_coef(X.data[k], row_scale, r, static_cast<int64_t>(X.indices[k]), dropout, keep_scale,
                                 seed, step, row_offset);
    }, 64);
    csr_gather_accumulate<T>(X.indptr, X.indices, coef.data(), X.n_rows, X.n_cols, h, W, b, Z, n_threads);
}

template <class T, class I>
void sparse_encoder_backward(const Csr<I, T>& X, const ItemMajor& im, const T* dZ, const T* row_scale, int64_t h,
                             double dropout, uint64_t seed, uint64_t step, int64_t row_offset, T* dW, T* db,
                             int n_threads) {
    const T keep_scale = dropout > 0.0 ? T(1.0 / (1.0 - dropout)) : T(1);
    // dW[p] = Σ_t coef_t · dZ[row_t]: entry t holds item im.items[p] of row im.rows[t].
    accumulate_by_item(im, dZ, X.n_rows, h, dW, n_threads, [&](int64_t p, int64_t t) {
        return entry_coef(X.data[im.pos[t]], row_scale, im.rows[t], im.items[p], dropout, keep_scale, seed, step,
                          row_offset);
    });
    if (db) column_sums(dZ, X.n_rows, h, db, n_threads);
}

template <class T>
void column_sums(const T* A, int64_t n_rows, int64_t n_cols, T* out, int n_threads) {
    constexpr int64_t kBlock = 64;  // rows per partial sum; fixed, so the bits do not depend on threads
    const int64_t n_blocks = (n_rows + kBlock - 1) / kBlock;
    std::vector<T> partial(static_cast<size_t>(std::max<int64_t>(n_blocks, 1) * n_cols), T(0));
    parallel_for(n_blocks, n_threads, [&](int64_t blk) {
        T* __restrict p = partial.data() + blk * n_cols;
        const int64_t end = std::min(n_rows, (blk + 1) * kBlock);
        for (int64_t r = blk * kBlock; r < end; ++r) {
            const T* __restrict a = A + r * n_cols;
#pragma omp simd
            for (int64_t c = 0; c < n_cols; ++c) p[c] += a[c];
        }
    });
    for (int64_t c = 0; c < n_cols; ++c) out[c] = T(0);
    for (int64_t blk = 0; blk < n_blocks; ++blk) {
        const T* __restrict p = partial.data() + blk * n_cols;
#pragma omp simd
        for (int64_t c = 0; c < n_cols; ++c) out[c] += p[c];
    }
}

#define AEREC_INSTANTIATE(T, I)                                                                                     \
    template void sparse_encoder_forward<T, I>(const Csr<I, T>&, const T*, const T*, const T*, int64_t, double,     \
                                               uint64_t, uint64_t, int64_t, T*, int);                               \
    template void sparse_encoder_backward<T, I>(const Csr<I, T>&, const ItemMajor&, const T*, const T*, int64_t,    \
                                                double, uint64_t, uint64_t, int64_t, T*, T*, int);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE
template void column_sums<float>(const float*, int64_t, int64_t, float*, int);
template void column_sums<double>(const double*, int64_t, int64_t, double*, int);

}  // namespace aerec

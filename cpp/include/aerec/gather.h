// aerec — the one sparse×dense loop behind the sparse layers: a CSR-indexed gather-accumulate
//
//   out[r, :] = init + Σ_{k ∈ [ptr[r], ptr[r+1])} coef[k] · src[idx[k], :]
//
// It is the encoder's forward pass (src = W, one output row per user), the decoder's dH (src = V)
// and, over the item-major view, every weight gradient (src = dZ or H, one output row per item).
// Each output row sums its terms in index order, so the result is the same for any thread count.
//
// Speed: each term reads a whole row of src; when src is larger than L2 those reads come from L3 or
// memory. When src rows are reused often (nnz ≥ 8·n_src), the hidden dimension is processed in
// column tiles sized so that the slab src[:, tile] fits in ~1 MiB of L2, and all output rows are
// swept for one tile before the next. That pays where rows are reused many times (I-AutoRec's
// shapes); with little reuse (a Mult-VAE batch) tiling only adds index passes, so it is not used there.
// Measured: benchmarks/RESULTS_SPEED_NOTES.md ("Figures moved out of the code").
#pragma once

#include <algorithm>
#include <cstdint>

#include "aerec/parallel.h"

namespace aerec {

// Columns per tile for a source with n_src rows gathered nnz times (a multiple of 16, at most h).
template <class T>
int64_t gather_tile_width(int64_t n_src, int64_t h, int64_t nnz) {
    if (nnz < 8 * n_src) return h;  // little reuse: one pass over the indices is cheapest
#ifdef AEREC_GATHER_L2_BUDGET  // compile-time override, for tuning on other machines
    constexpr int64_t kL2Budget = AEREC_GATHER_L2_BUDGET;
#else
    constexpr int64_t kL2Budget = int64_t(1) << 20;
#endif
    int64_t w = kL2Budget / std::max<int64_t>(1, n_src * static_cast<int64_t>(sizeof(T)));
    w = std::max<int64_t>(16, (w / 16) * 16);
    return std::min(w, h);
}

template <class T, class P, class J>
void csr_gather_accumulate(const P* ptr,    // (n_out + 1,)
                           const J* idx,    // (nnz,) rows of src, each in [0, n_src)
                           const T* coef,   // (nnz,)
                           int64_t n_out, int64_t n_src, int64_t h,
                           const T* src,    // (n_src, h)
                           const T* init,   // (h,) added to every output row, or nullptr for zero
                           T* out,          // (n_out, h)
                           int n_threads) {
    const int64_t tw = gather_tile_width<T>(n_src, h, static_cast<int64_t>(ptr[n_out]));
    for (int64_t c0 = 0; c0 < h; c0 += tw) {
        const int64_t c1 = std::min(h, c0 + tw);
        parallel_for(n_out, n_threads, [&](int64_t r) {
            T* __restrict o = out + r * h;
            for (int64_t c = c0; c < c1; ++c) o[c] = init ? init[c] : T(0);
            for (int64_t k = ptr[r]; k < static_cast<int64_t>(ptr[r + 1]); ++k) {
                const T a = coef[k];
                if (a == T(0)) continue;  // dropped-out entries
                const T* __restrict s = src + static_cast<int64_t>(idx[k]) * h;
#pragma omp simd
                for (int64_t c = c0; c < c1; ++c) o[c] += a * s[c];
            }
        }, 4);
    }
}

}  // namespace aerec

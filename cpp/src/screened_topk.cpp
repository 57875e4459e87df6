// aerec — screened_topk, CPU bodies (the bound and why the result is exact: screened_topk.h). Step 1 is
// topk run on the screen, writing its k-th values into the outputs as scratch; steps 2–3 walk each
// row once more, in ascending item order alongside the sorted exclusion list (as topk.cpp does), 16
// screened scores per comparison, and rescore the few candidates from Wᵀ's contiguous rows.
#include "aerec/screened_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "aerec/gemm_bf16.h"
#include "aerec/parallel.h"
#include "aerec/rank_key.h"
#include "aerec/simd.h"
#include "aerec/topk.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace aerec {

double dot_f64(const double* a, const double* b, int64_t n) {
    int64_t i = 0;
    double tail = 0;
#if defined(__AVX512F__)
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;  // four chains hide the add latency
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i), s0);
        s1 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + 8), _mm512_loadu_pd(b + i + 8), s1);
        s2 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + 16), _mm512_loadu_pd(b + i + 16), s2);
        s3 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i + 24), _mm512_loadu_pd(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm512_fmadd_pd(_mm512_loadu_pd(a + i), _mm512_loadu_pd(b + i), s0);
    for (; i < n; ++i) tail += a[i] * b[i];
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3))) + tail;
#else
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
    for (; i < n; ++i) tail += a[i] * b[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
#endif
}

namespace {

inline float bf16_value(float x) {
    const uint32_t bits = static_cast<uint32_t>(bf16_bits(x)) << 16;
    float r;
    std::memcpy(&r, &bits, sizeof r);
    return r;
}

}  // namespace

void transpose_rows(const float* B, int64_t K, int64_t N, float* Wt, int n_threads) {
    constexpr int64_t kTile = 64;  // 64 × 64 floats in, the same out: both sides stay in L1
    const int64_t n_col_tiles = (N + kTile - 1) / kTile;
    parallel_for(n_col_tiles, n_threads, [&](int64_t t) {
        const int64_t j0 = t * kTile, j1 = std::min(N, j0 + kTile);
        for (int64_t i0 = 0; i0 < K; i0 += kTile) {
            const int64_t i1 = std::min(K, i0 + kTile);
            for (int64_t j = j0; j < j1; ++j)
                for (int64_t i = i0; i < i1; ++i) Wt[j * K + i] = B[i * N + j];
        }
    });
}

WeightNorms screened_norms(const float* Wt, int64_t N, int64_t K, int n_threads) {
    std::vector<double> sq(static_cast<size_t>(3 * N));
    parallel_for(N, n_threads, [&](int64_t j) {
        double s0 = 0, s1 = 0, s2 = 0;
        for (int64_t i = 0; i < K; ++i) {
            const float w = Wt[j * K + i], wr = bf16_value(w);
            const double d = static_cast<double>(w) - static_cast<double>(wr);  // exact
            s0 += static_cast<double>(w) * static_cast<double>(w);
            s1 += static_cast<double>(wr) * static_cast<double>(wr);
            s2 += d * d;
        }
        sq[3 * j] = s0, sq[3 * j + 1] = s1, sq[3 * j + 2] = s2;
    }, 64);
    double m[3] = {0, 0, 0};
    for (int64_t j = 0; j < N; ++j)
        for (int q = 0; q < 3; ++q) m[q] = std::isnan(sq[3 * j + q]) || sq[3 * j + q] > m[q] ? sq[3 * j + q] : m[q];
    const double up = 1.0 + 0x1p-20;  // float64 sums of K exact squares: relative error far below this
    return {std::sqrt(m[0]) * up, std::sqrt(m[1]) * up, std::sqrt(m[2]) * up};
}

template <class I>
void screened_topk(const float* screen, const float* A, int64_t M, int64_t K, const float* Wt, int64_t N,
                   const float* bias, const WeightNorms& wn, int64_t k, const I* excl_indptr,
                   const I* excl_indices, const int64_t* candidates, int64_t n_candidates, int64_t* out_index,
                   float* out_score, int n_threads) {
    using Key = KeyOf<double>::Key;
    constexpr double kInf = std::numeric_limits<double>::infinity();
    constexpr double kLimit = 0x1p120;  // beyond this a float32 partial sum of the screen might overflow
    // Rows whose candidates share the reads of Wᵀ (fixed: results never depend on it). 128 was faster
    // than 64 or 256 at the ML-20M shape (benchmarks/RESULTS_SPEED_NOTES.md, fifth session).
    constexpr int64_t kRowBlock = 128;
    const double n_round = 2.0 * static_cast<double>(K) + 2.0;
    const double gamma = n_round * 0x1p-24 / (1.0 - n_round * 0x1p-24);
    double bias_max = 0;
    for (int64_t j = 0; bias && j < N; ++j) bias_max = std::max(bias_max, std::fabs(static_cast<double>(bias[j])));
    bool inputs_ok = std::isfinite(wn.norm) && std::isfinite(wn.rounded) && std::isfinite(wn.residual) &&
                     wn.rounded <= kLimit && bias_max <= kLimit;
    for (int64_t j = 0; bias && inputs_ok && j < N; ++j) inputs_ok = std::isfinite(bias[j]);

    const auto better = [](Key a, Key b) { return a > b; };
    const int64_t n_blocks = (M + kRowBlock - 1) / kRowBlock;
    parallel_for(n_blocks, n_threads, [&](int64_t blk) {
        const int64_t r0 = blk * kRowBlock, nr = std::min(M, r0 + kRowBlock) - r0;
        // Step 2: each row's candidates, ascending, concatenated (rows of the block in order).
        std::vector<int64_t> start(static_cast<size_t>(nr) + 1, 0);
        std::vector<int64_t> items;
        for (int64_t q = 0; q < nr; ++q) {
            const int64_t r = r0 + q;
            const float* a = A + r * K;
            const float* row = screen + r * N;
            // Step 1: the screen's own top-k for this row (only its k-th value is used; the row stays
            // in cache for step 2's scan).
            topk<float, I>(row, 1, N, k, excl_indptr ? excl_indptr + r : nullptr, excl_indices, candidates,
                           n_candidates, out_index + r * k, out_score + r * k, 1);
            // ‖a‖-type norms of the row as the screen saw it: a' = bf16(a), δa = a − a' (both exact in float64)
            double sq_r = 0, sq_d = 0;
            for (int64_t i = 0; i < K; ++i) {
                const float ar = bf16_value(a[i]);
                const double d = static_cast<double>(a[i]) - static_cast<double>(ar);
                sq_r += static_cast<double>(ar) * static_cast<double>(ar);
                sq_d += d * d;
            }
            const double a_r = std::sqrt(sq_r), a_d = std::sqrt(sq_d);
            const bool safe = inputs_ok && std::isfinite(a_r) && std::isfinite(a_d) && a_r * wn.rounded <= kLimit;
            const bool screened = safe && out_index[r * k + k - 1] >= 0;  // fewer than k eligible: rescore all
            double cut = -kInf;  // candidates: eligible items whose screened score is at least `cut`
            if (screened) {
                const double e = (a_d * wn.norm + a_r * wn.residual + gamma * (a_r * wn.rounded + bias_max) +
                                  0x1p-100 * static_cast<double>(K + 1) * (1.0 + a_r + a_d + wn.norm)) *
                                 (1.0 + 0x1p-30);  // slack for computing e itself in float64
                cut = static_cast<double>(out_score[r * k + k - 1]) - 2.0 * e;
            }
            // The float32 test `s > cut_f` keeps every s ≥ cut: cut_f is the float just below ⌊cut⌋.
            float cut_f = static_cast<float>(cut);
            if (static_cast<double>(cut_f) > cut) cut_f = std::nextafter(cut_f, -std::numeric_limits<float>::infinity());
            cut_f = std::nextafter(cut_f, -std::numeric_limits<float>::infinity());
            const I* ex = excl_indptr ? excl_indices + excl_indptr[r] : nullptr;
            const I* ex_end = excl_indptr ? excl_indices + excl_indptr[r + 1] : nullptr;
            auto consider = [&](int64_t j) {  // j in ascending order
                if (screened && !(row[j] > cut_f)) return;
                while (ex != ex_end && static_cast<int64_t>(*ex) < j) ++ex;
                if (ex == ex_end || static_cast<int64_t>(*ex) != j) items.push_back(j);
            };
            if (candidates) {
                for (int64_t t = 0; t < n_candidates; ++t) consider(candidates[t]);
            } else if (!screened) {
                for (int64_t j = 0; j < N; ++j) consider(j);
            } else {
                int64_t j = 0;
                for (; j + 16 <= N; j += 16)
                    for (uint32_t m = gt_mask16(row + j, cut_f); m; m &= m - 1) consider(j + lowest_bit(m));
                for (; j < N; ++j) consider(j);
            }
            start[static_cast<size_t>(q) + 1] = static_cast<int64_t>(items.size());
        }
        // Step 3, item by item: the block's rows wanting item j share one read of Wᵀ's row j (popular
        // items are candidates for many rows). A counting sort groups the (row, item) pairs by item.
        const int64_t n_pairs = static_cast<int64_t>(items.size());
        std::vector<int64_t> first(static_cast<size_t>(N) + 1, 0);
        for (const int64_t j : items) ++first[static_cast<size_t>(j) + 1];
        for (int64_t j = 0; j < N; ++j) first[j + 1] += first[j];
        std::vector<int64_t> by_item(static_cast<size_t>(n_pairs));  // pair index, grouped by item
        {
            std::vector<int64_t> fill(first.begin(), first.end() - 1);
            for (int64_t q = 0; q < nr; ++q)
                for (int64_t p = start[q]; p < start[q + 1]; ++p) by_item[fill[items[p]]++] = p;
        }
        std::vector<int64_t> row_of(static_cast<size_t>(n_pairs));
        for (int64_t q = 0; q < nr; ++q)
            for (int64_t p = start[q]; p < start[q + 1]; ++p) row_of[p] = q;
        // Each row's keys fill its own range [start[q], start[q] + kept[q]); NaN scores are dropped.
        std::vector<Key> keys(static_cast<size_t>(n_pairs));
        std::vector<int64_t> kept(static_cast<size_t>(nr), 0);
        // float64 copies: the block's rows of A (kept in L2) and the current item's row of Wᵀ (in L1); the
        // products of float32 values are exact in float64.
        std::vector<double> a64(static_cast<size_t>(nr * K)), w64(static_cast<size_t>(K));
        for (int64_t i = 0; i < nr * K; ++i) a64[i] = static_cast<double>(A[r0 * K + i]);
        for (int64_t g = 0; g < n_pairs;) {
            const int64_t j = items[by_item[g]];
            int64_t h = g;
            while (h < n_pairs && items[by_item[h]] == j) ++h;
            if (h < n_pairs) {  // ask for the next item's row now: rows are visited in no order the
                                // hardware prefetcher follows (ascending, with gaps)
                const char* nxt = reinterpret_cast<const char*>(Wt + items[by_item[h]] * K);
                for (int64_t off = 0; off < K * static_cast<int64_t>(sizeof(float)); off += 64)
                    __builtin_prefetch(nxt + off);
            }
            for (int64_t i = 0; i < K; ++i) w64[i] = static_cast<double>(Wt[j * K + i]);
            const double b = bias ? static_cast<double>(bias[j]) : 0.0;
            for (int64_t t = g; t < h; ++t) {
                const int64_t p = by_item[t];
                const int64_t q = row_of[p];
                const double s = dot_f64(a64.data() + q * K, w64.data(), K) + b;
                if (s == s) keys[start[q] + kept[q]++] = KeyOf<double>::make(s, j);  // NaN is never returned
            }
            g = h;
        }
        // Each row: the k best of its rescored candidates, best first.
        for (int64_t q = 0; q < nr; ++q) {
            const auto b = keys.begin() + start[q], e = b + kept[q];
            if (kept[q] > k) std::nth_element(b, b + (k - 1), e, better);
            const int64_t n_out = std::min(kept[q], k);
            std::sort(b, b + n_out, better);
            int64_t* oi = out_index + (r0 + q) * k;
            float* os = out_score + (r0 + q) * k;
            for (int64_t t = 0; t < k; ++t) {
                const bool found = t < n_out;
                oi[t] = found ? static_cast<int64_t>(~static_cast<uint32_t>(b[t])) : -1;
                os[t] = found ? static_cast<float>(KeyOf<double>::score(b[t]))
                              : -std::numeric_limits<float>::infinity();
            }
        }
    });
}

#define AEREC_INSTANTIATE(I)                                                                                 \
    template void screened_topk<I>(const float*, const float*, int64_t, int64_t, const float*, int64_t,     \
                                   const float*, const WeightNorms&, int64_t, const I*, const I*,            \
                                   const int64_t*, int64_t, int64_t*, float*, int);
AEREC_INSTANTIATE(int32_t)
AEREC_INSTANTIATE(int64_t)
#undef AEREC_INSTANTIATE

}  // namespace aerec

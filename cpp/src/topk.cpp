// aerec — topk, CPU bodies. Per row, items are visited in ascending index order (the sorted
// exclusion list is walked alongside, so exclusion costs no extra memory) and kept in a buffer of
// candidates. Once k are known, only items scoring strictly above the current k-th best can enter
// (a later item loses a tie), and whole blocks of 64 whose maximum cannot are skipped with one
// vectorised max. When the buffer fills, nth_element cuts it back to the k best and raises the
// threshold: O(1) amortised per candidate, where a binary heap pays O(log k) per replacement.
// Inside a block, 16 scores at a time are compared with the threshold into a bitmask (simd.h) and
// only the set bits are visited.
#include "aerec/topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "aerec/parallel.h"
#include "aerec/rank_key.h"
#include "aerec/simd.h"

namespace aerec {
namespace {

// The largest of p[0, n), NaN ignored (−inf when all are NaN).
template <class T>
inline T block_max(const T* p, int64_t n) {
    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < n; ++j) mx = p[j] > mx ? p[j] : mx;
    return mx;
}

// Maxima of disjoint groups of 16 items, NaN ignored: in each chunk of 256 items, lane l's group is
// items l, l + 16, …, l + 240 — vertical maxima of 16 vectors, no horizontal reductions. Items past
// the last whole chunk belong to no group: 16 · (n_items / 256) maxima are written to out.
template <class T>
void group_maxima(const T* row, int64_t n_items, T* out) {
    const int64_t n_chunks = n_items / 256;
    for (int64_t c = 0; c < n_chunks; ++c) {
        T acc[16];
        for (int l = 0; l < 16; ++l) acc[l] = -std::numeric_limits<T>::infinity();
        const T* p = row + 256 * c;
        for (int q = 0; q < 16; ++q)
#pragma omp simd
            for (int l = 0; l < 16; ++l) acc[l] = p[16 * q + l] > acc[l] ? p[16 * q + l] : acc[l];
        for (int l = 0; l < 16; ++l) out[16 * c + l] = acc[l];
    }
}

// A value at most the need-th largest of v[0, n) (need ≤ n; no NaN in v), within 2⁻¹⁵ (float) or
// 2⁻¹² (double) of it: a radix select on the top 24 bits of order-preserving keys, three passes of
// 256 buckets — branch-free counting where nth_element's partitions mispredict (a large share of a row's
// time; benchmarks/RESULTS_SPEED_NOTES.md, fifth session).
template <class T>
T select_floor(const T* v, int64_t n, int64_t need) {
    using U = typename KeyOf<T>::Bits;
    constexpr int kBits = 8 * sizeof(T);
    std::vector<U> key(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) key[i] = KeyOf<T>::order_bits(v[i]);
    U prefix = 0, mask = 0;
    int64_t remaining = need;
    for (int pass = 0; pass < 3; ++pass) {
        const int shift = kBits - 8 * (pass + 1);
        int64_t hist[256] = {};
        for (int64_t i = 0; i < n; ++i)
            if ((key[i] & mask) == prefix) ++hist[(key[i] >> shift) & 255];
        int b = 255;
        for (; b > 0 && hist[b] < remaining; --b) remaining -= hist[b];
        prefix |= static_cast<U>(b) << shift;
        mask |= static_cast<U>(255) << shift;
    }
    const T out = KeyOf<T>::from_order_bits(prefix);  // the smallest value with this prefix
    return out == out ? out : -std::numeric_limits<T>::infinity();  // below −inf's key: no floor
}

}  // namespace

template <class T, class I>
void topk(const T* scores, int64_t n_rows, int64_t n_items, int64_t k, const I* excl_indptr, const I* excl_indices,
          const int64_t* candidates, int64_t n_candidates, int64_t* out_index, T* out_score, int n_threads) {
    using Key = typename KeyOf<T>::Key;
    constexpr int64_t kBlock = 64;
    const int64_t cap = std::max<int64_t>(4 * k, 64);
    const auto better = [](Key a, Key b) { return a > b; };
    parallel_for(n_rows, n_threads, [&](int64_t r) {
        const T* row = scores + r * n_items;
        std::vector<Key> buf(static_cast<size_t>(cap));
        int64_t size = 0;
        bool have_k = false;  // buf holds k entries ranked above everything discarded so far
        T thr = -std::numeric_limits<T>::infinity();  // the k-th best score, once have_k
        const I* ex = excl_indptr ? excl_indices + excl_indptr[r] : nullptr;
        const I* ex_end = excl_indptr ? excl_indices + excl_indptr[r + 1] : nullptr;
        auto excluded = [&](int64_t j) {  // j must be visited in ascending order
            while (ex != ex_end && static_cast<int64_t>(*ex) < j) ++ex;
            return ex != ex_end && static_cast<int64_t>(*ex) == j;
        };
        auto compact = [&] {  // keep the k best, raise the threshold
            std::nth_element(buf.begin(), buf.begin() + (k - 1), buf.begin() + size, better);
            size = k;
            thr = KeyOf<T>::score(buf[static_cast<size_t>(k - 1)]);
            have_k = true;
        };
        // A floor before the first k are known: the (k + n_excluded)-th largest of the maxima of the
        // row's groups of 16 items. That many distinct items score at least `floor`, so at least k eligible
        // ones do, and nothing below it can be in the top k. Costs one pass over the row (which the
        // main pass then reads from cache); saves filling the buffer with the first 4k items and the
        // cut-backs that follow. Used when there are enough groups (2·need) for it to be selective.
        T floor = -std::numeric_limits<T>::infinity();
        if (!candidates) {
            const int64_t need = k + (ex_end - ex), n_groups = 16 * (n_items / 256);
            if (2 * need <= n_groups) {
                std::vector<T> mx(static_cast<size_t>(n_groups));
                group_maxima(row, n_items, mx.data());
                floor = select_floor(mx.data(), n_groups, need);
            }
        }
        const bool floored = floor > -std::numeric_limits<T>::infinity();
        const T below_floor = std::nextafter(floor, -std::numeric_limits<T>::infinity());  // s > it ⇔ s ≥ floor
        auto consider = [&](int64_t j) {
            const T s = row[j];
            if (have_k ? !(s > thr) : !(s >= floor)) return;  // below the bar, or NaN (never returned)
            if (excluded(j)) return;
            buf[static_cast<size_t>(size++)] = KeyOf<T>::make(s, j);
            if (size == cap) compact();
        };
        if (candidates) {
            for (int64_t t = 0; t < n_candidates; ++t) consider(candidates[t]);
        } else {
            for (int64_t b = 0; b < n_items; b += kBlock) {
                const int64_t e = std::min(n_items, b + kBlock);
                if (have_k || floored) {
                    if (!(block_max(row + b, e - b) > (have_k ? thr : below_floor))) continue;
                }
                int64_t j = b;
                if (!floored)
                    for (; j < e && !have_k; ++j) consider(j);
                for (; j + 16 <= e; j += 16)
                    for (uint32_t m = gt_mask16(row + j, have_k ? thr : below_floor); m; m &= m - 1)
                        consider(j + lowest_bit(m));
                for (; j < e; ++j) consider(j);
            }
        }
        if (size > k) compact();
        std::sort(buf.begin(), buf.begin() + size, better);  // best first
        int64_t* oi = out_index + r * k;
        T* os = out_score + r * k;
        for (int64_t t = 0; t < k; ++t) {
            const bool found = t < size;
            oi[t] = found ? static_cast<int64_t>(~static_cast<uint32_t>(buf[t])) : -1;
            os[t] = found ? KeyOf<T>::score(buf[t]) : -std::numeric_limits<T>::infinity();
        }
    }, 4);
}

#define AEREC_INSTANTIATE(T, I)                                                                               \
    template void topk<T, I>(const T*, int64_t, int64_t, int64_t, const I*, const I*, const int64_t*, int64_t, \
                             int64_t*, T*, int);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace aerec

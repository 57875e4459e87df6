// aerec — family 6, CPU bodies. Per row, items are visited in ascending index order (the sorted
// exclusion list is walked alongside, so exclusion costs no extra memory) and kept in a buffer of
// candidates. Once k are known, only items scoring strictly above the current k-th best can enter
// (a later item loses a tie), and whole blocks of 64 whose maximum cannot are skipped with one
// vectorised max. When the buffer fills, nth_element cuts it back to the k best and raises the
// threshold: O(1) amortised per candidate, where a binary heap pays O(log k) per replacement.
// Inside a block, 16 scores at a time are compared with the threshold into a bitmask (simd.h) and
// only the set bits are visited.
#include "aerec/topk.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "aerec/parallel.h"
#include "aerec/simd.h"

namespace aerec {
namespace {

// (score, index) packed into one unsigned integer whose order is the ranking: the score's bits made
// order-preserving (negative floats flip all bits, non-negative ones flip the sign bit) in the high
// part, the complemented index in the low 32 bits so that equal scores rank the lower index first.
// Candidates are then compared, partitioned and sorted as plain integers.
template <class T>
struct KeyOf;
template <>
struct KeyOf<float> {
    using Key = uint64_t;
    static Key make(float s, int64_t j) {
        uint32_t u;
        s += 0.0f;  // −0 → +0, so the two zeros tie as they compare equal
        std::memcpy(&u, &s, sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
        return (static_cast<Key>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
    }
    static float score(Key key) {
        uint32_t u = static_cast<uint32_t>(key >> 32);
        u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
        float s;
        std::memcpy(&s, &u, sizeof s);
        return s;
    }
};
template <>
struct KeyOf<double> {
    using Key = unsigned __int128;
    static Key make(double s, int64_t j) {
        uint64_t u;
        s += 0.0;
        std::memcpy(&u, &s, sizeof u);
        u = (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
        return (static_cast<Key>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
    }
    static double score(Key key) {
        uint64_t u = static_cast<uint64_t>(key >> 32);
        u = (u & 0x8000000000000000ull) ? (u & 0x7FFFFFFFFFFFFFFFull) : ~u;
        double s;
        std::memcpy(&s, &u, sizeof s);
        return s;
    }
};

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
        auto consider = [&](int64_t j) {
            const T s = row[j];
            if (have_k ? !(s > thr) : s != s) return;  // below the bar, or NaN (never returned)
            if (excluded(j)) return;
            buf[static_cast<size_t>(size++)] = KeyOf<T>::make(s, j);
            if (size == cap) compact();
        };
        if (candidates) {
            for (int64_t t = 0; t < n_candidates; ++t) consider(candidates[t]);
        } else {
            for (int64_t b = 0; b < n_items; b += kBlock) {
                const int64_t e = std::min(n_items, b + kBlock);
                if (have_k) {
                    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
                    for (int64_t j = b; j < e; ++j) mx = row[j] > mx ? row[j] : mx;
                    if (!(mx > thr)) continue;
                }
                int64_t j = b;
                for (; j < e && !have_k; ++j) consider(j);
                for (; j + 16 <= e; j += 16)
                    for (uint32_t m = gt_mask16(row + j, thr); m; m &= m - 1) consider(j + lowest_bit(m));
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

// aerec — family 6, CPU bodies: a bounded heap per row. Items are visited in ascending index order
// and the exclusion list (sorted, as canonical CSR is) is walked alongside, so exclusion costs no
// extra memory. Once the heap is full, blocks of 64 scores whose maximum cannot beat the current
// k-th best are skipped with one vectorised max — most of a long row is never compared.
#include "aerec/topk.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "aerec/parallel.h"

namespace aerec {
namespace {

template <class T>
struct Entry {
    T score;
    int64_t index;
};

// a ranks above b: higher score, then lower index.
template <class T>
inline bool ranks_above(const Entry<T>& a, const Entry<T>& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

}  // namespace

template <class T, class I>
void topk(const T* scores, int64_t n_rows, int64_t n_items, int64_t k, const I* excl_indptr, const I* excl_indices,
          const int64_t* candidates, int64_t n_candidates, int64_t* out_index, T* out_score, int n_threads) {
    constexpr int64_t kBlock = 64;
    parallel_for(n_rows, n_threads, [&](int64_t r) {
        const T* row = scores + r * n_items;
        std::vector<Entry<T>> heap;  // with ranks_above as the order, heap.front() is the worst kept
        heap.reserve(static_cast<size_t>(k));
        const I* ex = excl_indptr ? excl_indices + excl_indptr[r] : nullptr;
        const I* ex_end = excl_indptr ? excl_indices + excl_indptr[r + 1] : nullptr;
        auto excluded = [&](int64_t j) {  // j must be visited in ascending order
            while (ex != ex_end && static_cast<int64_t>(*ex) < j) ++ex;
            return ex != ex_end && static_cast<int64_t>(*ex) == j;
        };
        auto consider = [&](int64_t j) {
            const Entry<T> e{row[j], j};
            if (e.score != e.score) return;  // NaN is never recommended
            if (static_cast<int64_t>(heap.size()) < k) {
                heap.push_back(e);
                std::push_heap(heap.begin(), heap.end(), ranks_above<T>);
            } else if (ranks_above(e, heap.front())) {
                std::pop_heap(heap.begin(), heap.end(), ranks_above<T>);
                heap.back() = e;
                std::push_heap(heap.begin(), heap.end(), ranks_above<T>);
            }
        };
        if (candidates) {
            for (int64_t t = 0; t < n_candidates; ++t)
                if (!excluded(candidates[t])) consider(candidates[t]);
        } else {
            for (int64_t b = 0; b < n_items; b += kBlock) {
                const int64_t e = std::min(n_items, b + kBlock);
                if (static_cast<int64_t>(heap.size()) == k) {
                    // Later items lose ties, so a block whose max is ≤ the k-th best is skipped.
                    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
                    for (int64_t j = b; j < e; ++j) mx = row[j] > mx ? row[j] : mx;
                    if (!(mx > heap.front().score)) continue;
                }
                for (int64_t j = b; j < e; ++j)
                    if (!excluded(j)) consider(j);
            }
        }
        std::sort_heap(heap.begin(), heap.end(), ranks_above<T>);  // best first
        int64_t* oi = out_index + r * k;
        T* os = out_score + r * k;
        const int64_t n_found = static_cast<int64_t>(heap.size());
        for (int64_t t = 0; t < k; ++t) {
            oi[t] = t < n_found ? heap[t].index : -1;
            os[t] = t < n_found ? heap[t].score : -std::numeric_limits<T>::infinity();
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

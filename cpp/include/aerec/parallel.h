// aerec — the one place that touches omp.h.
//
// Determinism rule: results must be bit-identical for any n_threads. Work is therefore split into
// units whose arithmetic does not depend on how they are assigned to threads (a row, an item, a
// fixed-size block of elements), and reductions across units are done serially in unit order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace aerec {

inline bool openmp_enabled() {
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

inline int openmp_max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Calls fn(i) for i in [0, n) with up to n_threads threads (never changing global OpenMP state).
// Small loops run inline: a parallel region costs microseconds, more than a few cheap units.
template <class Fn>
void parallel_for(int64_t n, int n_threads, Fn&& fn, int64_t min_per_thread = 1) {
    if (n <= 0) return;
    int nt = n_threads < 1 ? 1 : n_threads;
    if (min_per_thread > 0) nt = static_cast<int>(std::min<int64_t>(nt, std::max<int64_t>(1, n / min_per_thread)));
#ifdef _OPENMP
    if (nt > 1) {
        // Exceptions must not escape an OpenMP region; keep the first and rethrow outside.
        std::exception_ptr error = nullptr;
        // Units are handed out in runs of `grain` (about 8 runs per thread), not one at a time: with
        // thousands of sub-microsecond units (an item's gradient row) the shared counter of
        // schedule(dynamic, 1) ping-pongs between the cores. Which thread runs a unit never
        // changes what it computes, so the grain does not affect the results.
        const int64_t grain = std::max<int64_t>(1, n / (int64_t(8) * nt));
#pragma omp parallel for num_threads(nt) schedule(dynamic, grain)
        for (int64_t i = 0; i < n; ++i) {
            try {
                fn(i);
            } catch (...) {
#pragma omp critical(aerec_parallel_error)
                if (!error) error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
        return;
    }
#endif
    for (int64_t i = 0; i < n; ++i) fn(i);
}

// Like parallel_for, but over fixed-size chunks [begin, end) of [0, n); the chunk boundaries depend
// on `chunk` only, never on the thread count.
template <class Fn>
void parallel_chunks(int64_t n, int64_t chunk, int n_threads, Fn&& fn) {
    if (n <= 0) return;
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    parallel_for(n_chunks, n_threads, [&](int64_t c) {
        const int64_t begin = c * chunk;
        fn(begin, std::min(n, begin + chunk));
    });
}

// Deterministic sum of part(begin, end) over fixed blocks of [0, n): each block's partial is
// computed by whichever thread, then the partials are added in block order.
template <class Acc, class Fn>
Acc deterministic_sum(int64_t n, int64_t block, int n_threads, Fn&& part) {
    if (n <= 0) return Acc(0);
    const int64_t n_blocks = (n + block - 1) / block;
    std::vector<Acc> partial(static_cast<size_t>(n_blocks), Acc(0));
    parallel_for(n_blocks, n_threads, [&](int64_t c) {
        const int64_t begin = c * block;
        partial[static_cast<size_t>(c)] = part(begin, std::min(n, begin + block));
    });
    Acc total(0);
    for (const Acc& p : partial) total += p;
    return total;
}

}  // namespace aerec

// aerec — activations, CPU bodies: elementwise over fixed chunks (the chunking never changes the
// arithmetic, so any n_threads gives the same bits). The formulas are in elementwise.h/random.h.
#include "aerec/activations.h"

#include <cmath>
#include <type_traits>

#include "aerec/elementwise.h"
#include "aerec/parallel.h"
#include "aerec/random.h"

namespace aerec {

constexpr int64_t kChunk = 16384;

// Calls fn with the activation code as a compile-time constant, so the switch in elementwise.h
// folds away and the loop over elements can vectorise.
template <class Fn>
void with_kind(int kind, Fn&& fn) {
    switch (kind) {
        case kSigmoid: return fn(std::integral_constant<int, kSigmoid>{});
        case kTanh: return fn(std::integral_constant<int, kTanh>{});
        case kRelu: return fn(std::integral_constant<int, kRelu>{});
        case kElu: return fn(std::integral_constant<int, kElu>{});
        case kSelu: return fn(std::integral_constant<int, kSelu>{});
        case kLeakyRelu: return fn(std::integral_constant<int, kLeakyRelu>{});
        case kSwish: return fn(std::integral_constant<int, kSwish>{});
        default: return fn(std::integral_constant<int, kIdentity>{});
    }
}

template <class T>
void activation_forward(int kind, T alpha, const T* Z, int64_t n, T* Y, int n_threads) {
    with_kind(kind, [&](auto k) {
        parallel_chunks(n, kChunk, n_threads, [&](int64_t begin, int64_t end) {
            // alpha as a local, so the OpenMP-outlined copy of this loop vectorises too (see dropout
            // below); no __restrict: Y may be Z (in place)
            const T a = alpha;
            for (int64_t i = begin; i < end; ++i) Y[i] = activation_value(decltype(k)::value, Z[i], a);
        });
    });
}

template <class T>
void activation_backward(int kind, T alpha, const T* Z, const T* Y, const T* dY, int64_t n, T* dZ, int n_threads) {
    with_kind(kind, [&](auto k) {
        parallel_chunks(n, kChunk, n_threads, [&](int64_t begin, int64_t end) {
            const T a = alpha;
            for (int64_t i = begin; i < end; ++i) dZ[i] = activation_derivative(decltype(k)::value, Z[i], Y[i], a) * dY[i];
        });
    });
}

template <class T>
void dropout(const T* X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
             int64_t row_offset, T* Y, int n_threads) {
    const T keep_scale = T(1.0 / (1.0 - rate));
    parallel_for(n_rows, n_threads, [&](int64_t r) {
        // Locals, not the captured references: inside OpenMP's outlined region GCC cannot prove the
        // stores to Y leave keep_scale, rate or n_cols alone, and stopped vectorising the Philox draws
        // (2 threads were then slower than 1; benchmarks/RESULTS_SPEED_NOTES.md, fourth session).
        const T* x = X + r * n_cols;  // no __restrict: out may be X (in place)
        T* y = Y + r * n_cols;
        const T ks = keep_scale;
        const double p = rate;
        const int64_t nc = n_cols;
        const uint64_t row = static_cast<uint64_t>(row_offset + r), sd = seed, st = step;
        for (int64_t c = 0; c < nc; ++c) y[c] = dropout_keep(sd, st, row, static_cast<uint64_t>(c), p) ? x[c] * ks : T(0);
    }, 8);
}

template <class T>
void random_uniform(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                    int n_threads) {
    parallel_for(n_rows, n_threads, [&](int64_t r) {
        for (int64_t c = 0; c < n_cols; ++c)
            out[r * n_cols + c] = static_cast<T>(uniform24(
                philox4x32_10(seed, step, static_cast<uint64_t>(row_offset + r), static_cast<uint64_t>(c)).v[0]));
    }, 8);
}

template <class T>
void random_normal(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                   int n_threads) {
    parallel_for(n_rows, n_threads, [&](int64_t r) {
        for (int64_t c = 0; c < n_cols; ++c)
            out[r * n_cols + c] = static_cast<T>(
                normal_draw(seed, step, static_cast<uint64_t>(row_offset + r), static_cast<uint64_t>(c)));
    }, 8);
}

#define AEREC_INSTANTIATE(T)                                                                                       \
    template void activation_forward<T>(int, T, const T*, int64_t, T*, int);                                      \
    template void activation_backward<T>(int, T, const T*, const T*, const T*, int64_t, T*, int);                 \
    template void dropout<T>(const T*, int64_t, int64_t, double, uint64_t, uint64_t, int64_t, T*, int);           \
    template void random_uniform<T>(int64_t, int64_t, uint64_t, uint64_t, int64_t, T*, int);                      \
    template void random_normal<T>(int64_t, int64_t, uint64_t, uint64_t, int64_t, T*, int);
AEREC_INSTANTIATE(float)
AEREC_INSTANTIATE(double)
#undef AEREC_INSTANTIATE

}  // namespace aerec

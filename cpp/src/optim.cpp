// aerec — optim, CPU bodies: in-place optimiser updates over fixed chunks (elementwise, so the
// result is the same for any n_threads).
#include "aerec/optim.h"

#include <algorithm>
#include <cmath>

#include "aerec/optim_rules.h"
#include "aerec/parallel.h"

namespace aerec {

constexpr int64_t kChunk = 32768;

template <class T>
void sgd_step(T* param, const T* grad, T* velocity, int64_t n, double lr, double momentum, bool nesterov,
              double weight_decay, int n_threads) {
    const T lr_ = T(lr), mu = T(momentum), wd = T(weight_decay);
    parallel_chunks(n, kChunk, n_threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            sgd_update(param[i], grad[i], velocity ? velocity + i : nullptr, lr_, mu, wd, nesterov);
    });
}

template <class T>
void sgd_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* velocity,
                   double lr, double momentum, bool nesterov, double weight_decay, int n_threads) {
    const T lr_ = T(lr), mu = T(momentum), wd = T(weight_decay);
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(n_cols, 1));
    parallel_chunks(n_rows, rows_per_chunk, n_threads, [&](int64_t begin, int64_t end) {
        const T l = lr_, m = mu, w = wd;  // locals: see activations.cpp's dropout
        const bool nest = nesterov;
        for (int64_t r = begin; r < end; ++r) {
            const int64_t o = r * n_cols;
            T* __restrict p = param + o;
            // the branches hoisted out of the loop over columns, so each variant vectorises
            if (slot[r] >= 0 && velocity) {
                const T* __restrict g = grad_rows + slot[r] * n_cols;
                T* __restrict v = velocity + o;
                for (int64_t c = 0; c < n_cols; ++c) sgd_update(p[c], g[c], v + c, l, m, w, nest);
            } else if (velocity) {
                T* __restrict v = velocity + o;
                for (int64_t c = 0; c < n_cols; ++c) sgd_update(p[c], T(0), v + c, l, m, w, nest);
            } else if (slot[r] >= 0) {
                const T* __restrict g = grad_rows + slot[r] * n_cols;
                for (int64_t c = 0; c < n_cols; ++c) sgd_update(p[c], g[c], static_cast<T*>(nullptr), l, m, w, nest);
            } else {
                for (int64_t c = 0; c < n_cols; ++c)
                    sgd_update(p[c], T(0), static_cast<T*>(nullptr), l, m, w, nest);
            }
        }
    });
}

namespace {

// One Adam update of n elements; g == nullptr means a zero gradient (the rule is optim_rules.h's).
template <class T>
struct AdamUpdate : AdamConstants<T> {
    using AdamConstants<T>::AdamConstants;

    void operator()(T* __restrict param, const T* __restrict grad, T* __restrict m, T* __restrict v, int64_t n) const {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) adam_update<T>(*this, param[i], grad ? grad[i] : T(0), m[i], v[i]);
    }
};

}  // namespace

template <class T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, int64_t t, double lr, double beta1, double beta2,
               double eps, double weight_decay, bool decoupled, int n_threads) {
    const AdamUpdate<T> update(t, lr, beta1, beta2, eps, weight_decay, decoupled);
    parallel_chunks(n, kChunk, n_threads, [&](int64_t begin, int64_t end) {
        update(param + begin, grad + begin, m + begin, v + begin, end - begin);
    });
}

template <class T>
void adam_step_rows(T* param, int64_t n_rows, int64_t n_cols, const int64_t* slot, const T* grad_rows, T* m, T* v,
                    int64_t t, double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                    int n_threads) {
    const AdamUpdate<T> update(t, lr, beta1, beta2, eps, weight_decay, decoupled);
    const int64_t rows_per_chunk = std::max<int64_t>(1, kChunk / std::max<int64_t>(n_cols, 1));
    parallel_chunks(n_rows, rows_per_chunk, n_threads, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t o = r * n_cols;
            update(param + o, slot[r] >= 0 ? grad_rows + slot[r] * n_cols : nullptr, m + o, v + o, n_cols);
        }
    });
}

template <class T>
void rprop_step(T* param, const T* grad, T* prev_grad, T* step_size, int64_t n, double eta_minus, double eta_plus,
                double step_min, double step_max, int n_threads) {
    const T em = T(eta_minus), ep = T(eta_plus), smin = T(step_min), smax = T(step_max);
    parallel_chunks(n, kChunk, n_threads, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            rprop_update(param[i], grad[i], prev_grad[i], step_size[i], em, ep, smin, smax);
    });
}

#define AEREC_INSTANTIATE(T)                                                                                          \
    template void sgd_step<T>(T*, const T*, T*, int64_t, double, double, bool, double, int);                         \
    template void sgd_step_rows<T>(T*, int64_t, int64_t, const int64_t*, const T*, T*, double, double, bool, double, \
                                   int);                                                                             \
    template void adam_step<T>(T*, const T*, T*, T*, int64_t, int64_t, double, double, double, double, double, bool, \
                               int);                                                                                 \
    template void rprop_step<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, int);           \
    template void adam_step_rows<T>(T*, int64_t, int64_t, const int64_t*, const T*, T*, T*, int64_t, double, double, \
                                    double, double, double, bool, int);
AEREC_INSTANTIATE(float)
AEREC_INSTANTIATE(double)
#undef AEREC_INSTANTIATE

}  // namespace aerec

// aerec — losses, CPU bodies. Scalar losses are accumulated in double over fixed blocks (or per
// row) and the partials added in order, so the value is the same for any n_threads.
#include "aerec/losses.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "aerec/elementwise.h"
#include "aerec/parallel.h"

namespace aerec {

constexpr int64_t kLossBlock = 4096;

template <class T>
double masked_mse(const T* pred, const T* target, int64_t nnz, double scale, T* grad, int n_threads) {
    const T g2 = T(2.0 * scale);
    const double total = deterministic_sum<double>(nnz, kLossBlock, n_threads, [&](int64_t begin, int64_t end) {
        double s = 0.0;
        for (int64_t k = begin; k < end; ++k) s += mse_term(pred[k], target[k], g2, grad ? grad + k : nullptr);
        return s;
    });
    return scale * total;
}

template <class T, class I>
double multinomial_loss_grad(T* logits, const T* c, const Csr<I, T>& X, double scale, int n_threads) {
    const int64_t n = X.n_cols;
    std::vector<double> row_loss(static_cast<size_t>(X.n_rows), 0.0);
    parallel_for(X.n_rows, n_threads, [&](int64_t r) {
        T* __restrict s = logits + r * n;
        // Pass 1: add the bias, find the max (for a stable log-sum-exp).
        T mx = -std::numeric_limits<T>::infinity();
        if (c) {
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < n; ++j) {
                s[j] += c[j];
                mx = s[j] > mx ? s[j] : mx;
            }
        } else {
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < n; ++j) mx = s[j] > mx ? s[j] : mx;
        }
        // The target terms Σ x_j and Σ x_j·s_j, read before s is overwritten.
        const int64_t k0 = X.indptr[r], k1 = X.indptr[r + 1];
        double total_x = 0.0, total_xs = 0.0;
        for (int64_t k = k0; k < k1; ++k) {
            total_x += static_cast<double>(X.data[k]);
            total_xs += static_cast<double>(X.data[k]) * static_cast<double>(s[X.indices[k]]);
        }
        // Pass 2: e_j = exp(s_j − max), kept in place, and their sum.
        T sum_e = T(0);
#pragma omp simd reduction(+ : sum_e)
        for (int64_t j = 0; j < n; ++j) {
            const T e = exp_vectorizable(s[j] - mx);
            s[j] = e;
            sum_e += e;
        }
        // loss_r = −Σ x_j (s_j − lse), lse = max + log Σ e.
        const double lse = static_cast<double>(mx) + std::log(static_cast<double>(sum_e));
        row_loss[r] = -(total_xs - total_x * lse);
        // Pass 3: gradient scale·(softmax·Σx − x).
        const T a = T(scale * total_x / static_cast<double>(sum_e));
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) s[j] *= a;
        const T sc = T(scale);
        for (int64_t k = k0; k < k1; ++k) s[X.indices[k]] -= sc * X.data[k];
    });
    double total = 0.0;
    for (double v : row_loss) total += v;
    return scale * total;
}

template <class T>
double gaussian_kl(const T* mu, const T* logvar, int64_t n, double scale, T* dmu, T* dlogvar, int n_threads) {
    const T sc = T(scale), half_sc = T(0.5 * scale);
    const double total = deterministic_sum<double>(n, kLossBlock, n_threads, [&](int64_t begin, int64_t end) {
        double s = 0.0;
        for (int64_t k = begin; k < end; ++k)
            s += gaussian_kl_term(mu[k], logvar[k], sc, half_sc, dmu ? dmu + k : nullptr,
                                  dlogvar ? dlogvar + k : nullptr);
        return s;
    });
    return scale * total;
}

template double masked_mse<float>(const float*, const float*, int64_t, double, float*, int);
template double masked_mse<double>(const double*, const double*, int64_t, double, double*, int);
template double gaussian_kl<float>(const float*, const float*, int64_t, double, float*, float*, int);
template double gaussian_kl<double>(const double*, const double*, int64_t, double, double*, double*, int);
template double multinomial_loss_grad<float, int32_t>(float*, const float*, const Csr<int32_t, float>&, double, int);
template double multinomial_loss_grad<float, int64_t>(float*, const float*, const Csr<int64_t, float>&, double, int);
template double multinomial_loss_grad<double, int32_t>(double*, const double*, const Csr<int32_t, double>&, double,
                                                       int);
template double multinomial_loss_grad<double, int64_t>(double*, const double*, const Csr<int64_t, double>&, double,
                                                       int);

}  // namespace aerec

// aerec — losses on the GPU. Sums are taken in double: per block over a grid-stride range with a
// fixed-shape tree, then the per-block partials are added in index order by one block — the same
// bits for the same inputs on every run (the launch shape depends only on the sizes). The
// per-entry terms are elementwise.h's (mse_term, gaussian_kl_term, exp_vectorizable), shared with
// the CPU kernels.
#include "losses.h"

#include <cmath>

#include "aerec/elementwise.h"
#include "common.cuh"

namespace aerec {
namespace cuda {

__global__ void sum_partials_kernel(const double* __restrict partials, int64_t n, double scale, double* out) {
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partials[i];
    s = block_reduce<double>(s);
    if (threadIdx.x == 0) *out = scale * s;
}

cudaError_t sum_partials(const double* partials, int64_t n, double scale, double* out, cudaStream_t stream) {
    sum_partials_kernel<<<1, kThreads, 0, stream>>>(partials, n, scale, out);
    return cudaGetLastError();
}

namespace {

template <class T>
__global__ void masked_mse_kernel(const T* __restrict pred, const T* __restrict target, int64_t n, T g2,
                                  T* __restrict grad, double* __restrict partials) {
    double s = 0.0;
    for (int64_t k = global_index(); k < n; k += grid_stride())
        s += mse_term(pred[k], target[k], g2, grad ? grad + k : nullptr);
    s = block_reduce<double>(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

template <class T>
__global__ void gaussian_kl_kernel(const T* __restrict mu, const T* __restrict logvar, int64_t n, T sc, T half_sc,
                                   T* __restrict dmu, T* __restrict dlogvar, double* __restrict partials) {
    double s = 0.0;
    for (int64_t k = global_index(); k < n; k += grid_stride())
        s += gaussian_kl_term(mu[k], logvar[k], sc, half_sc, dmu ? dmu + k : nullptr, dlogvar ? dlogvar + k : nullptr);
    s = block_reduce<double>(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One block per row: bias + max, the target terms, exponentials and their sum, then the gradient
// scale·(softmax·Σx − x) in place — the CPU's three passes, with block reductions between them.
template <class T, class I>
__global__ void multinomial_kernel(T* __restrict logits, const T* __restrict c, const I* __restrict indptr,
                                   const I* __restrict indices, const T* __restrict data, int64_t n_rows,
                                   int64_t n, double scale, double* __restrict row_loss) {
    for (int64_t r = blockIdx.x; r < n_rows; r += gridDim.x) {
        T* s = logits + r * n;
        // Pass 1: add the bias, find the max (for a stable log-sum-exp).
        T mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            const T v = c ? s[j] + c[j] : s[j];
            s[j] = v;
            mx = v > mx ? v : mx;
        }
        mx = block_reduce<T, true>(mx);  // its barriers also publish the biased logits
        // The target terms Σ x_j and Σ x_j·s_j, read before s is overwritten.
        const int64_t k0 = static_cast<int64_t>(indptr[r]), k1 = static_cast<int64_t>(indptr[r + 1]);
        double tx = 0.0, txs = 0.0;
        for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) {
            const double x = static_cast<double>(data[k]);
            tx += x;
            txs += x * static_cast<double>(s[static_cast<int64_t>(indices[k])]);
        }
        const double total_x = block_reduce<double>(tx);
        const double total_xs = block_reduce<double>(txs);
        // Pass 2: e_j = exp(s_j − max), kept in place, and their sum.
        double se = 0.0;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
            const T e = exp_vectorizable(s[j] - mx);
            s[j] = e;
            se += static_cast<double>(e);
        }
        const double sum_e = block_reduce<double>(se);
        // loss_r = −Σ x_j (s_j − lse), lse = max + log Σ e.
        if (threadIdx.x == 0) row_loss[r] = -(total_xs - total_x * (static_cast<double>(mx) + log(sum_e)));
        // Pass 3: gradient scale·(softmax·Σx − x).
        const T a = T(scale * total_x / sum_e);
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s[j] *= a;
        __syncthreads();
        const T sc = T(scale);
        for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) s[static_cast<int64_t>(indices[k])] -= sc * data[k];
        __syncthreads();
    }
}

}  // namespace

template <class T>
cudaError_t masked_mse(const T* pred, const T* target, int64_t nnz, double scale, T* grad, double* partials,
                       double* loss, cudaStream_t stream) {
    const int blocks = blocks_for(nnz);
    masked_mse_kernel<T><<<blocks, kThreads, 0, stream>>>(pred, target, nnz, T(2.0 * scale), grad, partials);
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : sum_partials(partials, blocks, scale, loss, stream);
}

template <class T>
cudaError_t gaussian_kl(const T* mu, const T* logvar, int64_t n, double scale, T* dmu, T* dlogvar, double* partials,
                        double* loss, cudaStream_t stream) {
    const int blocks = blocks_for(n);
    gaussian_kl_kernel<T><<<blocks, kThreads, 0, stream>>>(mu, logvar, n, T(scale), T(0.5 * scale), dmu, dlogvar,
                                                          partials);
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : sum_partials(partials, blocks, scale, loss, stream);
}

template <class T, class I>
cudaError_t multinomial_loss_grad(T* logits, const T* c, const I* indptr, const I* indices, const T* data,
                                  int64_t n_rows, int64_t n_items, double scale, double* row_loss, double* loss,
                                  cudaStream_t stream) {
    if (n_rows == 0) return sum_partials(row_loss, 0, scale, loss, stream);
    multinomial_kernel<T, I><<<row_blocks(n_rows), kThreads, 0, stream>>>(logits, c, indptr, indices, data,
                                                                          n_rows, n_items, scale, row_loss);
    const cudaError_t err = cudaGetLastError();
    return err != cudaSuccess ? err : sum_partials(row_loss, n_rows, scale, loss, stream);
}

template cudaError_t masked_mse<float>(const float*, const float*, int64_t, double, float*, double*, double*,
                                       cudaStream_t);
template cudaError_t masked_mse<double>(const double*, const double*, int64_t, double, double*, double*, double*,
                                        cudaStream_t);
template cudaError_t gaussian_kl<float>(const float*, const float*, int64_t, double, float*, float*, double*, double*,
                                        cudaStream_t);
template cudaError_t gaussian_kl<double>(const double*, const double*, int64_t, double, double*, double*, double*,
                                         double*, cudaStream_t);
#define AEREC_INSTANTIATE(T, I)                                                                                   \
    template cudaError_t multinomial_loss_grad<T, I>(T*, const T*, const I*, const I*, const T*, int64_t, int64_t, \
                                                     double, double*, double*, cudaStream_t);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace cuda
}  // namespace aerec

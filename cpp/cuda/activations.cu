// aerec — activations on the GPU: grid-stride elementwise kernels over the same formulas as the CPU
// (elementwise.h, random.h), so CPU and GPU agree to rounding and dropout masks agree exactly.
#include "activations.h"

#include "aerec/elementwise.h"
#include "aerec/random.h"

namespace aerec {
namespace cuda {
namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
    const int64_t b = (n + kThreads - 1) / kThreads;
    return static_cast<int>(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

template <class T>
__global__ void activation_forward_kernel(int kind, T alpha, const T* __restrict__ Z, int64_t n, T* __restrict__ Y) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        Y[i] = activation_value(kind, Z[i], alpha);
}

template <class T>
__global__ void activation_backward_kernel(int kind, T alpha, const T* __restrict__ Z, const T* __restrict__ Y,
                                           const T* __restrict__ dY, int64_t n, T* __restrict__ dZ) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        dZ[i] = activation_derivative(kind, Z[i], Y[i], alpha) * dY[i];
}

template <class T>
__global__ void dropout_kernel(const T* __restrict__ X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed,
                               uint64_t step, int64_t row_offset, T keep_scale, T* __restrict__ Y) {
    const int64_t n = n_rows * n_cols;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t r = i / n_cols, c = i % n_cols;
        Y[i] = dropout_keep(seed, step, static_cast<uint64_t>(row_offset + r), static_cast<uint64_t>(c), rate)
                   ? X[i] * keep_scale
                   : T(0);
    }
}

template <class T, bool Normal>
__global__ void random_kernel(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset,
                              T* __restrict out) {
    const int64_t n = n_rows * n_cols;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const uint64_t r = static_cast<uint64_t>(row_offset + i / n_cols), c = static_cast<uint64_t>(i % n_cols);
        out[i] = Normal ? static_cast<T>(normal_draw(seed, step, r, c))
                        : static_cast<T>(uniform24(philox4x32_10(seed, step, r, c).v[0]));
    }
}

}  // namespace

template <class T>
cudaError_t random_uniform(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                           cudaStream_t stream) {
    const int64_t n = n_rows * n_cols;
    if (n == 0) return cudaSuccess;
    random_kernel<T, false><<<blocks_for(n), kThreads, 0, stream>>>(n_rows, n_cols, seed, step, row_offset, out);
    return cudaGetLastError();
}

template <class T>
cudaError_t random_normal(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                          cudaStream_t stream) {
    const int64_t n = n_rows * n_cols;
    if (n == 0) return cudaSuccess;
    random_kernel<T, true><<<blocks_for(n), kThreads, 0, stream>>>(n_rows, n_cols, seed, step, row_offset, out);
    return cudaGetLastError();
}

template <class T>
cudaError_t activation_forward(int kind, T alpha, const T* Z, int64_t n, T* Y, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    activation_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(kind, alpha, Z, n, Y);
    return cudaGetLastError();
}

template <class T>
cudaError_t activation_backward(int kind, T alpha, const T* Z, const T* Y, const T* dY, int64_t n, T* dZ,
                                cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    activation_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(kind, alpha, Z, Y, dY, n, dZ);
    return cudaGetLastError();
}

template <class T>
cudaError_t dropout(const T* X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
                    int64_t row_offset, T* Y, cudaStream_t stream) {
    const int64_t n = n_rows * n_cols;
    if (n == 0) return cudaSuccess;
    const T keep_scale = T(1.0 / (1.0 - rate));
    dropout_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(X, n_rows, n_cols, rate, seed, step, row_offset,
                                                               keep_scale, Y);
    return cudaGetLastError();
}

template cudaError_t activation_forward<float>(int, float, const float*, int64_t, float*, cudaStream_t);
template cudaError_t activation_forward<double>(int, double, const double*, int64_t, double*, cudaStream_t);
template cudaError_t activation_backward<float>(int, float, const float*, const float*, const float*, int64_t, float*,
                                                cudaStream_t);
template cudaError_t activation_backward<double>(int, double, const double*, const double*, const double*, int64_t,
                                                 double*, cudaStream_t);
template cudaError_t random_uniform<float>(int64_t, int64_t, uint64_t, uint64_t, int64_t, float*, cudaStream_t);
template cudaError_t random_uniform<double>(int64_t, int64_t, uint64_t, uint64_t, int64_t, double*, cudaStream_t);
template cudaError_t random_normal<float>(int64_t, int64_t, uint64_t, uint64_t, int64_t, float*, cudaStream_t);
template cudaError_t random_normal<double>(int64_t, int64_t, uint64_t, uint64_t, int64_t, double*, cudaStream_t);
template cudaError_t dropout<float>(const float*, int64_t, int64_t, double, uint64_t, uint64_t, int64_t, float*,
                                    cudaStream_t);
template cudaError_t dropout<double>(const double*, int64_t, int64_t, double, uint64_t, uint64_t, int64_t, double*,
                                     cudaStream_t);

}  // namespace cuda
}  // namespace aerec

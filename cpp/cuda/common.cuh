// aerec — what the CUDA families share: launch shapes, grid-stride loops, deterministic block
// reductions. Kernels receive device pointers that the binding has checked for size and type and
// whose index contents were validated on the host (see module_cuda.cpp).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

constexpr int kThreads = 256;  // threads per block for elementwise and row kernels
constexpr int kWarp = 32;
// Blocks of a grid-stride loop are capped: enough to fill any current GPU, few enough that the
// per-block partial sums of a reduction fit a fixed scratch buffer (module attribute
// loss_scratch_size), so every reduction adds the same partials in the same order.
constexpr int kMaxBlocks = 1024;

inline int blocks_for(int64_t n, int threads = kThreads) {
    const int64_t b = (n + threads - 1) / threads;
    return static_cast<int>(b < kMaxBlocks ? (b > 0 ? b : 1) : kMaxBlocks);
}

// Blocks for one-block-per-row kernels (grid-stride over rows beyond this).
inline int row_blocks(int64_t n_rows) {
    constexpr int64_t kMaxRowBlocks = 65535;
    return static_cast<int>(n_rows < kMaxRowBlocks ? (n_rows > 0 ? n_rows : 1) : kMaxRowBlocks);
}

__device__ inline int64_t global_index() { return blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; }
__device__ inline int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <class T>
__device__ inline T warp_sum(T v) {
    for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

template <class T>
__device__ inline T warp_max(T v) {
    for (int o = kWarp / 2; o > 0; o /= 2) {
        const T w = __shfl_down_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

// Sum (or max) over the block, returned to every thread. The tree has a fixed shape, so the
// result depends only on the inputs and blockDim, never on scheduling. All threads must call it.
template <class T, bool Max = false>
__device__ inline T block_reduce(T v) {
    __shared__ T partial[kWarp];
    __shared__ T result;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    v = Max ? warp_max(v) : warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        const int n_warps = (blockDim.x + kWarp - 1) / kWarp;
        T w = lane < n_warps ? partial[lane] : (Max ? partial[0] : T(0));
        w = Max ? warp_max(w) : warp_sum(w);
        if (lane == 0) result = w;
    }
    __syncthreads();
    const T out = result;
    __syncthreads();  // result may be reused by the next call
    return out;
}

// out[0] = scale · Σ_i partials[i] over n partials, in a fixed order (one block): the final step
// of every deterministic reduction here (defined in losses.cu).
cudaError_t sum_partials(const double* partials, int64_t n, double scale, double* out, cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

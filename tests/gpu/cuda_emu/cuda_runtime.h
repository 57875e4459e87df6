// A host emulation of the small part of CUDA that aerec's kernels use, so cpp/cuda/*.cu can be
// compiled by g++ and *run* on a machine without a GPU (tests/gpu/cuda_emu/run.sh).
//
// Each CUDA thread is a std::thread; the threads of one block run concurrently and share the
// block's `__shared__` variables (static storage: blocks run one after another), __syncthreads is
// a barrier over the block, and __shfl_down_sync exchanges values through a per-warp buffer
// between two barriers over the warp. A launch `k<<<grid, block, 0, s>>>(args)` is rewritten by
// translate.py into emu_launch(grid, block, [&] { k(args); }).
//
// What this checks: indexing, bounds, grid-stride loops, the reductions' shapes and barriers — the
// kernels' logic. What it cannot: the GPU memory model, real warp scheduling, device libm (the
// host's transcendental functions are used) and performance. Only for tests.
#pragma once

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

inline thread_local dim3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0}, blockDim{1, 1, 1}, gridDim{1, 1, 1};

using cudaError_t = int;
constexpr cudaError_t cudaSuccess = 0;
using cudaStream_t = void*;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }

namespace emu {

struct Block {
    std::unique_ptr<std::barrier<>> all;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<uint64_t> slots;  // one 8-byte slot per thread for shuffles
};
inline thread_local Block* current = nullptr;

template <class F>
void launch(dim3 grid, dim3 block, F&& body) {
    const unsigned n = block.x * block.y * block.z;
    for (unsigned gz = 0; gz < grid.z; ++gz)
        for (unsigned gy = 0; gy < grid.y; ++gy)
            for (unsigned gx = 0; gx < grid.x; ++gx) {
                Block b;
                b.all = std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(n));
                for (unsigned w = 0; w * 32 < n; ++w)
                    b.warps.push_back(std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(
                        n - w * 32 < 32 ? n - w * 32 : 32)));
                b.slots.assign(n, 0);
                std::vector<std::thread> threads;
                threads.reserve(n);
                for (unsigned t = 0; t < n; ++t)
                    threads.emplace_back([&, t] {
                        threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
                        blockIdx = dim3(gx, gy, gz);
                        blockDim = block;
                        gridDim = grid;
                        current = &b;
                        body();
                    });
                for (auto& th : threads) th.join();
            }
}

}  // namespace emu

inline void __syncthreads() { emu::current->all->arrive_and_wait(); }

template <class T>
T __shfl_down_sync(unsigned, T v, int offset) {
    static_assert(sizeof(T) <= 8, "8-byte slots");
    const unsigned t = threadIdx.x, lane = t % 32;
    auto& b = *emu::current;
    std::memcpy(&b.slots[t], &v, sizeof(T));
    b.warps[t / 32]->arrive_and_wait();
    T r = v;
    if (lane + offset < 32 && t + offset < blockDim.x) std::memcpy(&r, &b.slots[t + offset], sizeof(T));
    b.warps[t / 32]->arrive_and_wait();
    return r;
}

inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline long long __double_as_longlong(double d) {
    long long u;
    std::memcpy(&u, &d, 8);
    return u;
}

// aerec — family 10, CPU bodies: the float32 training GEMM (see gemm_f32.h).
//
// Blocking, with this machine's caches in mind (48 KiB L1d and 2 MiB L2 per core, a large shared L3):
// an A micro-panel (kMr × kc, 18 KiB at kc = 384) stays in L1 while the B micro-panels of the current
// B block (kc × kNb, 768 KiB) stream from L2; the A block (up to kMb rows × kc, 4.5 MiB) lives in L3.
// Loop order (outer to inner): A row block i0 → kc-block p → B column block j0 → A panel → B panel.
// One parallel region per call; the threads pack their share of the panels of a step, meet at a
// spin barrier, then compute their own tiles. A and B blocks are double-buffered, so one barrier per
// step suffices: a thread that passed the barrier of step s has finished computing step s − 1, so
// buffer (s + 1) % 2 is free to repack.
#include "aerec/gemm_f32.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "aerec/parallel.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace aerec {
namespace {

#if defined(__AVX512F__)
constexpr int kMr = 12, kNr = 32;  // 24 zmm accumulators, 2 for B, 1 broadcast
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kMr = 6, kNr = 16;   // 12 ymm accumulators, 2 for B, 1 broadcast
#else
constexpr int kMr = 4, kNr = 16;
#endif
constexpr int64_t kKc = 384;   // largest kc-block
constexpr int64_t kMb = 3072;  // rows of A per block (a multiple of kMr)
constexpr int64_t kNb = 512;   // columns of B per block (a multiple of kNr)
static_assert(kMb % kMr == 0 && kNb % kNr == 0, "blocks are whole panels");
constexpr double kParallelFlops = 1 << 22;  // below this a product runs on the calling thread

// C tile (kMr × kNr at c, row stride ldc) = (load ? C : 0) + Σ_k a[k][r]·b[k][j] over kc, one FMA chain
// per element in k order.
#if defined(__AVX512F__)
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                         bool load) {
    __m512 c0[kMr], c1[kMr];
    if (load) {
        for (int r = 0; r < kMr; ++r) {
            c0[r] = _mm512_loadu_ps(c + r * ldc);
            c1[r] = _mm512_loadu_ps(c + r * ldc + 16);
        }
    } else {
        for (int r = 0; r < kMr; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int r = 0; r < kMr; ++r) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
        }
        a += kMr;
        b += kNr;
    }
    for (int r = 0; r < kMr; ++r) {
        _mm512_storeu_ps(c + r * ldc, c0[r]);
        _mm512_storeu_ps(c + r * ldc + 16, c1[r]);
    }
}
#elif defined(__AVX2__) && defined(__FMA__)
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                         bool load) {
    __m256 c0[kMr], c1[kMr];
    if (load) {
        for (int r = 0; r < kMr; ++r) {
            c0[r] = _mm256_loadu_ps(c + r * ldc);
            c1[r] = _mm256_loadu_ps(c + r * ldc + 8);
        }
    } else {
        for (int r = 0; r < kMr; ++r) c0[r] = c1[r] = _mm256_setzero_ps();
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int r = 0; r < kMr; ++r) {
            const __m256 ar = _mm256_broadcast_ss(a + r);
            c0[r] = _mm256_fmadd_ps(ar, b0, c0[r]);
            c1[r] = _mm256_fmadd_ps(ar, b1, c1[r]);
        }
        a += kMr;
        b += kNr;
    }
    for (int r = 0; r < kMr; ++r) {
        _mm256_storeu_ps(c + r * ldc, c0[r]);
        _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
    }
}
#else
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                         bool load) {
    float acc[kMr][kNr];
    for (int r = 0; r < kMr; ++r)
        for (int j = 0; j < kNr; ++j) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; ++k) {
        for (int r = 0; r < kMr; ++r)
            for (int j = 0; j < kNr; ++j) acc[r][j] += a[r] * b[j];
        a += kMr;
        b += kNr;
    }
    for (int r = 0; r < kMr; ++r)
        for (int j = 0; j < kNr; ++j) c[r * ldc + j] = acc[r][j];
}
#endif

// A tile cut by C's edge (rows × cols < kMr × kNr): computed whole in a scratch tile, the valid part
// copied in and out — the same arithmetic, element by element, as a full tile.
inline void edge_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool load, int64_t rows,
                      int64_t cols) {
    alignas(64) float tile[kMr * kNr];
    if (load)
        for (int64_t r = 0; r < rows; ++r) std::memcpy(tile + r * kNr, c + r * ldc, sizeof(float) * cols);
    micro_kernel(kc, a, b, tile, kNr, load);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(c + r * ldc, tile + r * kNr, sizeof(float) * cols);
}

#if defined(__AVX512F__)
// GCC 12's own AVX-512 shuffle intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized
// reports at every inlined call (a false positive in the compiler's header, not in this code).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// out[j] (j < 16) = column j of the 16 × 16 block in rows[0..15] (in registers): the classic
// unpack / shuffle / lane-permute transpose, 64 shuffles for 256 elements.
inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; ++i) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// Panel q of an operand block, k-major: dst[k * W + w] = src(k0 + k, w0 + q·W + w) for the panel's w < width,
// 0 beyond (the padding only reaches C's rows/columns that are never stored). src(k, w) = s[k*ks + w*ws].
template <int W>
void pack_panel(const float* s, int64_t ks, int64_t ws, int64_t kc, int64_t width, float* dst) {
    if (width < W) std::memset(dst, 0, sizeof(float) * W * kc);
    if (ws == 1) {  // contiguous along the panel's width: row copies (fixed-size ones inline)
        if (width == W)
            for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * W, s + k * ks, sizeof(float) * W);
        else
            for (int64_t k = 0; k < kc; ++k) std::memcpy(dst + k * W, s + k * ks, sizeof(float) * width);
    } else if (ks == 1) {  // contiguous along k: a transpose
        int64_t k = 0;
#if defined(__AVX512F__)
        // 16 values of k at a time: load 16 k-runs (one per w, zero rows past width), transpose,
        // store each k's W values (W ≤ 16 lanes per store).
        static_assert(W % 16 == 0 || W < 16, "panel widths are below 16 or whole vectors");
        constexpr int kLanes = W < 16 ? W : 16;
        for (int64_t w0 = 0; w0 < width; w0 += 16) {
            const int64_t nw = std::min<int64_t>(16, width - w0);
            for (k = 0; k + 16 <= kc; k += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; ++i)
                    r[i] = i < nw ? _mm512_loadu_ps(s + (w0 + i) * ws + k) : _mm512_setzero_ps();
                transpose16(r);
                for (int i = 0; i < 16; ++i)
                    _mm512_mask_storeu_ps(dst + (k + i) * W + w0, static_cast<__mmask16>((1u << kLanes) - 1), r[i]);
            }
        }
#endif
        for (int64_t w = 0; w < width; ++w) {
            const float* line = s + w * ws;
            for (int64_t kk = k; kk < kc; ++kk) dst[kk * W + w] = line[kk];
        }
    } else {
        for (int64_t k = 0; k < kc; ++k)
            for (int64_t w = 0; w < width; ++w) dst[k * W + w] = s[k * ks + w * ws];
    }
}

// A barrier for the threads of one GEMM call, which are all busy with it: spinning costs less than
// OpenMP's barrier under OMP_WAIT_POLICY=PASSIVE (a futex sleep and wake per step). A thread that
// spins long (a core taken by another process) yields.
class SpinBarrier {
public:
    explicit SpinBarrier(int n) : n_(n) {}
    void wait() {
        const int gen = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
            count_.store(0, std::memory_order_relaxed);
            gen_.fetch_add(1, std::memory_order_release);
            return;
        }
        for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
            if (spins < 4096) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            } else {
                std::this_thread::yield();
            }
        }
    }

private:
    const int n_;
    std::atomic<int> count_{0};
    std::atomic<int> gen_{0};
};

struct AlignedBuffer {
    float* p = nullptr;
    size_t n = 0;
    ~AlignedBuffer() { std::free(p); }
    float* get(size_t want) {  // grows only; the calling thread's buffer is reused across calls
        if (want > n) {
            std::free(p);
            p = static_cast<float*>(std::aligned_alloc(64, (want * sizeof(float) + 63) / 64 * 64));
            if (!p) {
                n = 0;
                throw std::bad_alloc();
            }
            n = want;
        }
        return p;
    }
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int gemm_f32_mr() { return kMr; }
int gemm_f32_nr() { return kNr; }
int gemm_f32_kc() { return static_cast<int>(kKc); }

void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
              int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, int n_threads) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, sizeof(float) * N);
        return;
    }
    // kc-blocks of equal size: a function of K only (the determinism of the sums).
    const int64_t n_kb = ceil_div(K, kKc), kc_max = ceil_div(K, n_kb);
    const int64_t mb_max = std::min(kMb, ceil_div(M, kMr) * kMr), nb_max = std::min(kNb, ceil_div(N, kNr) * kNr);
    // buffer sizes in whole cache lines: every panel starts 64-byte aligned (aligned loads of B)
    const size_t a_size = static_cast<size_t>(ceil_div(mb_max * kc_max, 16) * 16),
                 b_size = static_cast<size_t>(ceil_div(nb_max * kc_max, 16) * 16);
    thread_local AlignedBuffer buffer;  // the caller's; the team shares it for this call
    float* const base = buffer.get(2 * (a_size + b_size));
    float* const a_buf[2] = {base, base + a_size};
    float* const b_buf[2] = {base + 2 * a_size, base + 2 * a_size + b_size};

    int nt = std::max(1, n_threads);
    if (2.0 * double(M) * double(N) * double(K) < kParallelFlops) nt = 1;
    nt = static_cast<int>(std::min<int64_t>(nt, ceil_div(M, kMr) * ceil_div(N, kNr)));
    SpinBarrier barrier(nt);

    auto run = [&](int t, int T) {
        int64_t step = 0, a_step = 0;  // B and A blocks packed so far: their buffers alternate
        for (int64_t i0 = 0; i0 < M; i0 += kMb) {
            const int64_t mb = std::min(kMb, M - i0), n_a = ceil_div(mb, kMr);
            for (int64_t p = 0; p < n_kb; ++p, ++a_step) {
                const int64_t k0 = p * kc_max, kc = std::min(kc_max, K - k0);
                const bool load = accumulate || p > 0;
                float* const ap = a_buf[a_step % 2];
                for (int64_t j0 = 0; j0 < N; j0 += kNb, ++step) {
                    const int64_t nb = std::min(kNb, N - j0), n_b = ceil_div(nb, kNr);
                    float* const bp = b_buf[step % 2];
                    // pack this step's panels: thread t takes a contiguous share of A's (new kc-block only) and B's
                    const int64_t n_pack = (j0 == 0 ? n_a : 0) + n_b;
                    for (int64_t q = n_pack * t / T; q < n_pack * (t + 1) / T; ++q) {
                        if (j0 == 0 && q < n_a) {
                            const int64_t r0 = i0 + q * kMr;
                            pack_panel<kMr>(A + r0 * rsa + k0 * csa, csa, rsa, kc, std::min<int64_t>(kMr, M - r0),
                                            ap + q * kMr * kc);
                        } else {
                            const int64_t qb = q - (j0 == 0 ? n_a : 0), c0 = j0 + qb * kNr;
                            pack_panel<kNr>(B + k0 * rsb + c0 * csb, rsb, csb, kc, std::min<int64_t>(kNr, N - c0),
                                            bp + qb * kNr * kc);
                        }
                    }
                    if (T > 1) barrier.wait();
                    // this thread's tiles: a contiguous range of A panels (all B panels) or of B panels
                    int64_t a_lo = 0, a_hi = n_a, b_lo = 0, b_hi = n_b;
                    if (T > 1) {
                        if (ceil_div(n_a, T) * n_b <= n_a * ceil_div(n_b, T)) {
                            a_lo = n_a * t / T;
                            a_hi = n_a * (t + 1) / T;
                        } else {
                            b_lo = n_b * t / T;
                            b_hi = n_b * (t + 1) / T;
                        }
                    }
                    for (int64_t ia = a_lo; ia < a_hi; ++ia) {
                        const int64_t r0 = i0 + ia * kMr, rows = std::min<int64_t>(kMr, M - r0);
                        const float* a = ap + ia * kMr * kc;
                        for (int64_t ib = b_lo; ib < b_hi; ++ib) {
                            const int64_t c0 = j0 + ib * kNr, cols = std::min<int64_t>(kNr, N - c0);
                            float* c = C + r0 * ldc + c0;
                            const float* b = bp + ib * kNr * kc;
                            if (rows == kMr && cols == kNr)
                                micro_kernel(kc, a, b, c, ldc, load);
                            else
                                edge_tile(kc, a, b, c, ldc, load, rows, cols);
                        }
                    }
                }
            }
        }
    };
    parallel_team(nt, run);
}

}  // namespace aerec

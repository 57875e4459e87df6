// aerec — gemm_f32, CPU bodies: the float32 training GEMM (see gemm_f32.h).
//
// Blocking, sized for 48 KiB of L1d and 2 MiB of L2 per core and a large shared L3:
// an A micro-panel (kMr × kc, 18 KiB at kc = 384) stays in L1 while the B micro-panels of the current
// B block (kc × kNb, 768 KiB) stream from L2; the A block (up to kMb rows × kc, 4.5 MiB) lives in L3.
// Loop order (outer to inner): A row block i0 → kc-block p → B column block j0 → A panel → B panel.
//
// Threads: C is cut into one contiguous range of whole panels per thread — columns when N ≥ M, else
// rows — and each thread runs the serial loops on its part with its own packing buffers: no barrier,
// no panel packed by one core and read from the other's cache. The operand that is not cut is packed
// by every thread (a second copy of A when cutting columns: M·K elements against M·N·K/T FMAs).
// A first version packed shared panels behind a spin barrier (so half of every panel a thread read was
// packed by the other core — the likely cost, not measured apart); it was slower than independent BLAS
// calls per column block at Mult-VAE's output-layer products, and the private-panel version replaced it.
// Measured: benchmarks/RESULTS_SPEED_NOTES.md (sixth session, and "Figures moved out of the code").
#include "aerec/gemm_f32.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

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
// The first R rows of a tile, columns under the masks m0 (0–15) and m1 (16–31): the full tile is
// R = kMr with every lane; C's edges run the same chains on fewer rows and masked columns, so an
// 8-row edge (a batch of 128 = 10·12 + 8) costs 8/12 of a tile, not a whole one plus copies.
template <int R>
inline void micro_kernel_rows(int64_t kc, const float* __restrict a, const float* __restrict b, float* c,
                              int64_t ldc, bool load, __mmask16 m0, __mmask16 m1) {
    __m512 c0[R], c1[R];
    if (load) {
        for (int r = 0; r < R; ++r) {
            c0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            c1[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        }
    } else {
        for (int r = 0; r < R; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
        }
        a += kMr;
        b += kNr;
    }
    for (int r = 0; r < R; ++r) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, c0[r]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c1[r]);
    }
}

inline void micro_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool load) {
    micro_kernel_rows<kMr>(kc, a, b, c, ldc, load, 0xFFFF, 0xFFFF);
}

template <int... Rs>
inline void edge_rows(std::integer_sequence<int, Rs...>, int64_t rows, int64_t kc, const float* a, const float* b,
                      float* c, int64_t ldc, bool load, __mmask16 m0, __mmask16 m1) {
    ((rows == Rs + 1 ? micro_kernel_rows<Rs + 1>(kc, a, b, c, ldc, load, m0, m1) : void()), ...);
}

// A tile cut by C's edge (rows ≤ kMr, cols ≤ kNr).
inline void edge_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, bool load, int64_t rows,
                      int64_t cols) {
    const auto mask = [](int64_t n) { return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u); };
    edge_rows(std::make_integer_sequence<int, kMr>{}, rows, kc, a, b, c, ldc, load, mask(cols),
              mask(std::max<int64_t>(0, cols - 16)));
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

#if !defined(__AVX512F__)
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
#endif

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

// One panel, k-major: dst[k * W + w] = s[k*ks + w*ws] for k < kc and w < width, 0 for width ≤ w < W (the
// padding only reaches rows/columns of C that are never stored).
template <int W>
void pack_panel(const float* s, int64_t ks, int64_t ws, int64_t kc, int64_t width, float* dst) {
    if (width < W) std::memset(dst, 0, sizeof(float) * W * kc);
    if (ws == 1) {  // contiguous along the panel's width: row copies
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

// Packing buffer sizes (floats) for a product with these extents, in whole cache lines so that every
// B panel starts 64-byte aligned (its loads are aligned).
struct BufferSizes {
    int64_t a, b;
};
BufferSizes buffer_sizes(int64_t M, int64_t N, int64_t kc_max) {
    return {ceil_div(std::min(kMb, ceil_div(M, kMr) * kMr) * kc_max, 16) * 16,
            ceil_div(std::min(kNb, ceil_div(N, kNr) * kNr) * kc_max, 16) * 16};
}

// The serial product of one thread: C (M × N) = [C +] A·B with kc-blocks of kc_max (the last one
// shorter), packing into ap (A block) and bp (B block).
void gemm_serial(int64_t M, int64_t N, int64_t K, int64_t kc_max, const float* A, int64_t rsa, int64_t csa,
                 const float* B, int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, float* ap,
                 float* bp) {
    const int64_t n_kb = ceil_div(K, kc_max);
    for (int64_t i0 = 0; i0 < M; i0 += kMb) {
        const int64_t mb = std::min(kMb, M - i0), n_a = ceil_div(mb, kMr);
        for (int64_t p = 0; p < n_kb; ++p) {
            const int64_t k0 = p * kc_max, kc = std::min(kc_max, K - k0);
            const bool load = accumulate || p > 0;
            for (int64_t q = 0; q < n_a; ++q) {
                const int64_t r0 = i0 + q * kMr;
                pack_panel<kMr>(A + r0 * rsa + k0 * csa, csa, rsa, kc, std::min<int64_t>(kMr, M - r0), ap + q * kMr * kc);
            }
            for (int64_t j0 = 0; j0 < N; j0 += kNb) {
                const int64_t nb = std::min(kNb, N - j0), n_b = ceil_div(nb, kNr);
                for (int64_t q = 0; q < n_b; ++q) {
                    const int64_t c0 = j0 + q * kNr;
                    pack_panel<kNr>(B + k0 * rsb + c0 * csb, rsb, csb, kc, std::min<int64_t>(kNr, N - c0),
                                    bp + q * kNr * kc);
                }
                for (int64_t ia = 0; ia < n_a; ++ia) {
                    const int64_t r0 = i0 + ia * kMr, rows = std::min<int64_t>(kMr, M - r0);
                    const float* a = ap + ia * kMr * kc;
                    for (int64_t ib = 0; ib < n_b; ++ib) {
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
}

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
    const int64_t kc_max = ceil_div(K, ceil_div(K, kKc));
    const int64_t n_a = ceil_div(M, kMr), n_b = ceil_div(N, kNr);
    int64_t T = std::max(1, n_threads);
    if (2.0 * double(M) * double(N) * double(K) < kParallelFlops) T = 1;
    const bool cut_cols = N >= M;
    T = std::min(T, cut_cols ? n_b : n_a);
    // part u covers panels [first(u), first(u + 1)) of the cut dimension
    const int64_t n_cut = cut_cols ? n_b : n_a;
    auto first = [&](int64_t u) { return n_cut * u / T; };
    int64_t most = 0;  // extents of the largest part, for its buffers
    for (int64_t u = 0; u < T; ++u) most = std::max(most, first(u + 1) - first(u));
    const BufferSizes size = cut_cols ? buffer_sizes(M, most * kNr, kc_max) : buffer_sizes(most * kMr, N, kc_max);
    thread_local AlignedBuffer buffer;  // the caller's; part u uses slice u
    float* const base = buffer.get(static_cast<size_t>(T * (size.a + size.b)));
    parallel_for(T, static_cast<int>(T), [&](int64_t u) {
        float* const ap = base + u * (size.a + size.b);
        float* const bp = ap + size.a;
        if (cut_cols) {
            const int64_t c0 = first(u) * kNr, c1 = std::min(N, first(u + 1) * kNr);
            gemm_serial(M, c1 - c0, K, kc_max, A, rsa, csa, B + c0 * csb, rsb, csb, C + c0, ldc, accumulate, ap, bp);
        } else {
            const int64_t r0 = first(u) * kMr, r1 = std::min(M, first(u + 1) * kMr);
            gemm_serial(r1 - r0, N, K, kc_max, A + r0 * rsa, rsa, csa, B, rsb, csb, C + r0 * ldc, ldc, accumulate, ap,
                        bp);
        }
    });
}

}  // namespace aerec

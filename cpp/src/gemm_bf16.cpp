// aerec — gemm_bf16, CPU bodies: the bfloat16 scoring GEMM on AMX tiles (see gemm_bf16.h).
//
// Register blocking: 2 × 2 output tiles (32 rows × 32 columns, tmm0–3) from 2 A tiles (tmm4–5, 16 rows
// × 32 bf16 of K) and 2 B tiles (tmm6–7). Work is split over blocks of 32 columns of B (each block's
// K × 32 slab, 38 KiB at K = 600, stays in L2 while every row of A streams past it); A, converted to
// bf16 once per call, is 1.2 MiB for 1,000 rows at K = 600. Output tiles are stored to a 16 × 16
// scratch tile and copied out with the bias added, which also handles partial edge tiles.
#include "aerec/gemm_bf16.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "aerec/parallel.h"

// AMX intrinsics need GCC >= 11 or Clang >= 12 (target("amx-tile,amx-bf16")) and an assembler that knows
// the instructions (binutils >= 2.36, which those compilers ship with); older compilers, other
// architectures and other systems build the fallback below, and gemm_bf16 runs as an sgemm of the
// rounded operands (aerec.kernels decides from amx_bf16_available()).
#if defined(__x86_64__) && defined(__linux__) && \
    ((defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 11))
#define AEREC_HAVE_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace aerec {

uint16_t bf16_bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return static_cast<uint16_t>(u >> 16);
}

void bf16_round(const float* A, int64_t n, float* out, int n_threads) {
    parallel_chunks(n, int64_t(1) << 15, n_threads, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const uint32_t u = static_cast<uint32_t>(bf16_bits(A[i])) << 16;
            std::memcpy(out + i, &u, sizeof u);
        }
    });
}

int64_t bf16_pad_k(int64_t k) { return (k + 31) / 32 * 32; }
int64_t bf16_pad_n(int64_t n) { return (n + 15) / 16 * 16; }

void pack_bf16(const float* B, int64_t K, int64_t N, uint16_t* packed, int n_threads) {
    const int64_t kp = bf16_pad_k(K), n_kb = kp / 32, n_nb = bf16_pad_n(N) / 16;
    // Tile (nb, kb) holds rows [32 kb, 32 kb + 32) and columns [16 nb, 16 nb + 16) of B:
    // element (p, j, e) = B[32 kb + 2 p + e][16 nb + j], zero outside B.
    parallel_for(n_nb, n_threads, [&](int64_t nb) {
        for (int64_t kb = 0; kb < n_kb; ++kb) {
            uint16_t* tile = packed + (nb * n_kb + kb) * 512;
            for (int64_t p = 0; p < 16; ++p)
                for (int64_t j = 0; j < 16; ++j)
                    for (int64_t e = 0; e < 2; ++e) {
                        const int64_t r = 32 * kb + 2 * p + e, c = 16 * nb + j;
                        tile[p * 32 + j * 2 + e] = (r < K && c < N) ? bf16_bits(B[r * N + c]) : 0;
                    }
        }
    }, 16);
}

#ifdef AEREC_HAVE_AMX

namespace {

constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

bool detect_amx() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 27) & 1u)) return false;  // OSXSAVE: xgetbv is usable
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u, avx512f = (b >> 16) & 1u;
    if (!tile || !bf16 || !avx512f) return false;  // the tile stores go out through AVX-512 (store_tile)
    // The OS must enable the AVX-512 state (XCR0 bits 1, 2, 5, 6, 7) and the tile state (bits 17–18),
    // and grant the tile data to this process.
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xE6u) != 0xE6u || ((lo >> 17) & 3u) != 3u) return false;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

struct TileConfig {
    uint8_t palette_id = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
};

// tile (16 × 16, row-major) → out[r0:r0+16, c0:c0+16] + bias, clipped to the M × N output.
__attribute__((target("avx512f"))) void store_tile(const float* tile, int64_t M, int64_t N, const float* bias,
                                                   float* out, int64_t r0, int64_t c0) {
    const int64_t rows = std::min<int64_t>(16, M - r0), cols = std::min<int64_t>(16, N - c0);
    if (rows <= 0 || cols <= 0) return;
    const __mmask16 mask = static_cast<__mmask16>((1u << cols) - 1u);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + c0) : _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; ++r)
        _mm512_mask_storeu_ps(out + (r0 + r) * N + c0, mask, _mm512_add_ps(_mm512_load_ps(tile + r * 16), b));
}

__attribute__((target("amx-tile,amx-bf16,avx512f"))) void amx_columns(const uint16_t* A, int64_t M, int64_t kp,
                                                                       const uint16_t* packed, int64_t N,
                                                                       const float* bias, float* out, int64_t nb0,
                                                                       int64_t nb1) {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    // GCC's _tile_loadconfig tells the compiler it reads only the first 8 bytes of cfg: make sure the
    // rows/colsb stores above are not treated as dead.
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
    const int64_t n_kb = kp / 32, a_stride = kp * 2;  // bytes per row of A
    alignas(64) float tile[16 * 16];
    const auto store = [&](int64_t r0, int64_t c0) { store_tile(tile, M, N, bias, out, r0, c0); };
    for (int64_t r0 = 0; r0 < M; r0 += 32) {  // A is padded to a multiple of 32 rows
        const uint16_t* a0 = A + r0 * kp;
        const uint16_t* a1 = a0 + 16 * kp;
        for (int64_t nb = nb0; nb < nb1; nb += 2) {
            const bool two_cols = nb + 1 < nb1;
            const uint16_t* B0 = packed + nb * n_kb * 512;
            const uint16_t* B1 = B0 + n_kb * 512;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int64_t kb = 0; kb < n_kb; ++kb) {
                _tile_loadd(4, a0 + kb * 32, a_stride);
                _tile_loadd(5, a1 + kb * 32, a_stride);
                _tile_loadd(6, B0 + kb * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(2, 5, 6);
                if (two_cols) {
                    _tile_loadd(7, B1 + kb * 512, 64);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_dpbf16ps(3, 5, 7);
                }
            }
            _tile_stored(0, tile, 64);
            store(r0, nb * 16);
            _tile_stored(2, tile, 64);
            store(r0 + 16, nb * 16);
            if (two_cols) {
                _tile_stored(1, tile, 64);
                store(r0, nb * 16 + 16);
                _tile_stored(3, tile, 64);
                store(r0 + 16, nb * 16 + 16);
            }
        }
    }
    _tile_release();
}

}  // namespace

bool amx_bf16_available() {
    static const bool ok = detect_amx();
    return ok;
}

void gemm_bf16_amx(const float* A, int64_t M, int64_t K, const uint16_t* packed, int64_t N, const float* bias,
                   float* out, int n_threads) {
    if (!amx_bf16_available()) throw std::runtime_error("gemm_bf16_amx: AMX-BF16 is not available on this CPU/OS");
    if (M <= 0 || N <= 0) return;
    const int64_t kp = bf16_pad_k(K), mp = (M + 31) / 32 * 32;
    std::vector<uint16_t> a(static_cast<size_t>(mp * kp), 0);  // bf16(A), zero-padded rows and columns
    parallel_for(M, n_threads, [&](int64_t r) {
        for (int64_t k = 0; k < K; ++k) a[static_cast<size_t>(r * kp + k)] = bf16_bits(A[r * K + k]);
    }, 64);
    // Fixed chunks of 8 column blocks (128 columns): a chunk's tiles and their order over K are the
    // same whichever thread runs it.
    const int64_t n_nb = bf16_pad_n(N) / 16;
    constexpr int64_t kChunkBlocks = 8;
    parallel_chunks(n_nb, kChunkBlocks, n_threads, [&](int64_t nb0, int64_t nb1) {
        amx_columns(a.data(), M, kp, packed, N, bias, out, nb0, nb1);
    });
}

#else  // no AMX on this platform/compiler

bool amx_bf16_available() { return false; }

void gemm_bf16_amx(const float*, int64_t, int64_t, const uint16_t*, int64_t, const float*, float*, int) {
    throw std::runtime_error("gemm_bf16_amx: this build has no AMX support (x86-64 Linux with GCC/Clang only)");
}

#endif

}  // namespace aerec

// aerec — gemm_bf16: bfloat16 scoring GEMM for inference, out = bf16(A)·bf16(B) + bias, accumulated in
// float32, on Intel AMX tiles (TDPBF16PS).
//
// Rounding: both operands are rounded to bfloat16 with round-to-nearest-even (bf16_round), so every
// product of normal numbers is exact in float32; the sums are float32. AMX treats bfloat16 denormals
// (|x| < 1.2e-38) as zero and flushes denormal results. B (the fixed weights, K × N) is packed once
// (pack_bf16) into 1 KiB tiles: for each block of 16 columns, for each block of 32 rows (16 row pairs),
// a 16 × 16 array of (B[2p][j], B[2p+1][j]) pairs — the VNNI layout TDPBF16PS reads. K and N are
// zero-padded to multiples of 32 and 16. Each output element comes from one tile computation with a
// fixed order over K, so the result does not depend on n_threads.
#pragma once

#include <cstdint>

namespace aerec {

// True when this CPU has AMX-TILE and AMX-BF16 and the OS granted this process the tile state
// (Linux arch_prctl ARCH_REQ_XCOMP_PERM); the request is made once, on the first call.
bool amx_bf16_available();

// float32 → bfloat16 bits, round to nearest even (NaN stays NaN).
uint16_t bf16_bits(float x);

// out[i] = A[i] rounded to bfloat16 (bf16_bits) and widened back to float32, i in [0, n): the operand
// the GEMM multiplies, as float32. Elementwise over fixed chunks, so independent of n_threads.
void bf16_round(const float* A, int64_t n, float* out, int n_threads);

int64_t bf16_pad_k(int64_t k);  // K rounded up to a multiple of 32
int64_t bf16_pad_n(int64_t n);  // N rounded up to a multiple of 16

// packed: bf16_pad_k(K) * bf16_pad_n(N) elements.
void pack_bf16(const float* B, int64_t K, int64_t N, uint16_t* packed, int n_threads);

// A: (M, K) float32 row-major; packed from pack_bf16(B: K × N); bias: (N,) or nullptr; out: (M, N).
// Requires amx_bf16_available().
void gemm_bf16_amx(const float* A, int64_t M, int64_t K, const uint16_t* packed, int64_t N, const float* bias,
                   float* out, int n_threads);

}  // namespace aerec

// aerec — gemm_f32: the float32 GEMM of training, C = A·B (or C += A·B), on strided operands.
//
// Why our own and not NumPy's OpenBLAS: the products of a training step are thin — a batch of 128–500
// users against 512–20,108 items, or weight gradients with K = the batch — and OpenBLAS runs such shapes
// well short of the FMA peak, where MKL (what PyTorch calls) comes close to it. This kernel follows the
// structure BLIS and MKL use; it matches or beats OpenBLAS at those shapes and is still behind MKL at some.
// Measured: benchmarks/RESULTS_SPEED_NOTES.md (sixth session) and benchmarks/RESULTS.md (group gemm_f32).
//
// Structure (BLIS): K is cut into kc-blocks of equal size (kc ≤ kKc, a function of K only); for each
// block, A's rows are packed into panels of kMr rows (kc × kMr, k-major) and B's columns into panels of
// kNr columns (kc × kNr), by each thread for its own part of C; a register-blocked micro-kernel computes a
// kMr × kNr tile of C as kc rank-1 updates. Any operand layout is packed the same way (row and column
// strides), so transposed views (Hᵀ·G, G·Wᵀ) need no copy.
//
// Determinism: every element of C is the sum over the kc-blocks in order, each block's sum a chain of
// FMAs over k in order — independent of the tile → thread assignment, so the result is bit-identical
// for any n_threads. It is not bit-identical to another BLAS, nor across the ISA variants (the
// generic module has no FMA).
//
// Accuracy: float32 with FMA (or a*b+c without), as any sgemm: |C − A·B| ≤ γ_K·|A|·|B| elementwise
// (γ_{K+1}·(|A|·|B| + |C|) when accumulating), γ_n = n·u/(1 − n·u), u = 2⁻²⁴.
#pragma once

#include <cstdint>

namespace aerec {

// A(i, k) = A[i*rsa + k*csa], B(k, j) = B[k*rsb + j*csb], C(i, j) = C[i*ldc + j]; strides in elements,
// any sign for A and B. C must not overlap A or B. accumulate: C += A·B, else C = A·B (C is not read;
// K = 0 gives zeros).
void gemm_f32(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
              int64_t rsb, int64_t csb, float* C, int64_t ldc, bool accumulate, int n_threads);

// Register tile of this build's micro-kernel (rows × columns) and the largest kc, for tests that
// exercise every edge: M, N not multiples of the tile, K across several kc-blocks.
int gemm_f32_mr();
int gemm_f32_nr();
int gemm_f32_kc();

}  // namespace aerec

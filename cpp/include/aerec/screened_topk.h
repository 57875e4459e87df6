// aerec — screened_topk: exact top-k of a float32 output layer, screened in bfloat16.
//
// scores = A·W + bias (A: M × K, W: K × N, float32) ranked per row, as topk ranks a score block
// (exclusions, candidates, ties to the lower index, padding), but without an M × N float32 product:
// the caller passes the bfloat16 screen S' = gemm_bf16(A, pack_bf16(W), bias) (several times
// sgemm's rate on AMX) and W's rows by item, Wt = Wᵀ (N × K). Per row:
//   1. the top-k of S' (topk) gives v_k, the k-th best screened score;
//   2. every eligible item with S'_j ≥ v_k − 2e is a candidate, e bounding |S'_j − s_j| for the row;
//   3. candidates are rescored exactly — s_j = Σ_i a_i·w_ij in float64 (each product exact) + bias_j —
//      and the k best by s_j are returned, their scores rounded to float32.
// Why that is the exact top-k: the k items of step 1 have s ≥ S' − e ≥ v_k − e, so every item of the
// true top-k has s ≥ v_k − e, hence S' ≥ s − e ≥ v_k − 2e: none is screened out.
//
// The bound e (per row). With a' = bf16(a), w' = bf16(w_j) and the residuals δa = a − a', δw = w_j − w',
// exactly a·w − a'·w' = δa·w + a'·δw, so |a·w − a'·w'| ≤ ‖δa‖·‖w_j‖ + ‖a'‖·‖δw‖ (Cauchy–Schwarz with the
// row's actual residual: about half the worst-case 2u‖a‖‖w‖, u = 2⁻⁸). The float32 sums and the bias
// add at most γ·(‖a'‖·‖w'‖ + |bias_j|), γ = n·2⁻²⁴ / (1 − n·2⁻²⁴) for n = 2K + 2 roundings, in any
// order (AMX tiles or the sgemm fallback); flushed denormals (AMX) at most 2⁻¹⁰⁰·(K + 1)·(1 + ‖a‖ + ‖w‖).
// The weight norms are maxima over items (WeightNorms, computed once per set of weights). A row is
// not screened — every eligible item is rescored — when the bound could fail: ‖a'‖·max‖w'‖ or
// max|bias| above 2¹²⁰ (a float32 partial sum might overflow), or anything not finite. Results are
// identical for any n_threads.
#pragma once

#include <cstdint>

namespace aerec {

// Upper bounds on max_j ‖w_j‖₂, max_j ‖bf16(w_j)‖₂ and max_j ‖w_j − bf16(w_j)‖₂ over W's columns.
struct WeightNorms {
    double norm, rounded, residual;
};

// screen: (M, N) from gemm_bf16; A: (M, K); Wt: (N, K); bias: (N,) or nullptr; wn from the same W
// (screened_norms). Exclusion CSR and candidates as in topk.h.
template <class I>
void screened_topk(const float* screen, const float* A, int64_t M, int64_t K, const float* Wt, int64_t N,
                   const float* bias, const WeightNorms& wn, int64_t k, const I* excl_indptr,
                   const I* excl_indices, const int64_t* candidates, int64_t n_candidates, int64_t* out_index,
                   float* out_score, int n_threads);

// Wt (N, K) = Bᵀ for B (K, N), in cache-sized tiles.
void transpose_rows(const float* B, int64_t K, int64_t N, float* Wt, int n_threads);

// The WeightNorms of Wᵀ (N rows of K), each norm's float64 sum rounded up by a 2⁻²⁰ margin.
WeightNorms screened_norms(const float* Wt, int64_t N, int64_t K, int n_threads);

// Σ_i a_i·b_i in float64, in a fixed order (the same for any n_threads).
double dot_f64(const double* a, const double* b, int64_t n);

}  // namespace aerec

// aerec — sparse_encoder: the sparse encoder, the first layer of every model here.
//
//   Z = D · drop(X) · W + b
// X is a CSR batch (n_rows × n_items), D an optional per-row scale (Mult-VAE's L2 normalisation),
// drop() inverted dropout on X's stored entries (keep with probability 1 − rate, scale kept entries
// by 1/(1 − rate); the draw for entry (r, j) is Philox(seed, step, row_offset + r, j)).
// The layer reads only the nonzeros: nnz·h work instead of n_rows·n_items·h.
//
// Backward, given dZ:  dW[j] = Σ_r D_r·drop(X)_rj·dZ[r]  for the items j present in the batch
// only (a compact (m, h) block, m = #present items), and db = Σ_r dZ[r].
#pragma once

#include <cstdint>

#include "aerec/common.h"
#include "aerec/item_major.h"

namespace aerec {

template <class T, class I>
void sparse_encoder_forward(const Csr<I, T>& X,
                            const T* W,          // (n_items, h)
                            const T* b,          // (h,) or nullptr
                            const T* row_scale,  // (n_rows,) or nullptr
                            int64_t h, double dropout, uint64_t seed, uint64_t step, int64_t row_offset,
                            T* Z,  // (n_rows, h) out
                            int n_threads);

template <class T, class I>
void sparse_encoder_backward(const Csr<I, T>& X, const ItemMajor& im,
                             const T* dZ,         // (n_rows, h)
                             const T* row_scale,  // (n_rows,) or nullptr
                             int64_t h, double dropout, uint64_t seed, uint64_t step, int64_t row_offset,
                             T* dW,  // (im.items.size(), h) out
                             T* db,  // (h,) out, or nullptr
                             int n_threads);

// out[c] = Σ_r A[r, c], summed in fixed row blocks so the result does not depend on n_threads.
template <class T>
void column_sums(const T* A, int64_t n_rows, int64_t n_cols, T* out, int n_threads);

}  // namespace aerec

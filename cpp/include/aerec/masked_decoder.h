// aerec — masked_decoder: the masked decoder, the output layer of the explicit-rating models.
//
//   out_k = H[r]·V[j] + c[j]   only for the stored entries k = (r, j) of a CSR mask
// (a sampled dense–dense product, SDDMM): the loss of AutoRec and the deep autoencoder needs the
// reconstruction at observed ratings only, so an epoch costs O(nnz·h), not O(users·items·h).
// V is stored item-major, (n_items, h), so each output is one contiguous dot product.
//
// Backward, given d_out (nnz,):
//   dH[r] = Σ_{k in row r} d_out_k · V[j_k]          (dense, (n_rows, h))
//   dV[j] = Σ_{k : j_k = j} d_out_k · H[r_k],  dc[j] = Σ d_out_k   for the present items only.
#pragma once

#include <cstdint>

#include "aerec/common.h"
#include "aerec/item_major.h"

namespace aerec {

template <class T, class I>
void masked_decoder_forward(const Csr<I, T>& mask,  // pattern only (data unused)
                            const T* H,             // (n_rows, h)
                            const T* V,             // (n_items, h)
                            const T* c,             // (n_items,) or nullptr
                            int64_t h,
                            T* out,  // (nnz,) out, in CSR order
                            int n_threads);

template <class T, class I>
void masked_decoder_backward(const Csr<I, T>& mask, const ItemMajor& im,
                             const T* H,      // (n_rows, h)
                             const T* V,      // (n_items, h)
                             const T* d_out,  // (nnz,)
                             int64_t h,
                             T* dH,  // (n_rows, h) out, or nullptr
                             T* dV,  // (m, h) out
                             T* dc,  // (m,) out, or nullptr
                             int n_threads);

}  // namespace aerec

// aerec — gram: the sparse Gram matrix G = XᵀX of a users × items CSR matrix (EASE's first
// step), written dense (n_items × n_items).
//
// Work is Σ_u n_u² (pairs of items within each user's row), not n_users·n_items². Row i of G is
// owned by one thread: it walks the users holding item i (the item-major view) and, for each, that
// user's items — G[i, j] += x_ui·x_uj — in a fixed order, so the result is bit-identical for any
// n_threads and G comes out exactly symmetric for binary data.
#pragma once

#include <cstdint>

#include "aerec/common.h"

namespace aerec {

template <class T, class I>
void sparse_gram(const Csr<I, T>& X,
                 const int64_t* col_ptr,   // (n_items + 1,) item-major view of X: users of item i are
                 const int64_t* col_rows,  // (nnz,)          col_rows[col_ptr[i]:col_ptr[i+1]], ascending
                 const int64_t* col_pos,   // (nnz,)          with their positions in X's arrays
                 T* G,                     // (n_items, n_items) out
                 int n_threads);

}  // namespace aerec

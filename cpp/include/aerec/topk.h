// aerec — topk: top-k per row of a dense score block, excluding a CSR set of items per row
// (already seen) and optionally restricted to candidate items. Best first; equal scores rank the
// lower item index first; NaN scores are never returned. Rows with fewer than k eligible items are
// padded with index −1 and score −inf.
#pragma once

#include <cstdint>

#include "aerec/common.h"

namespace aerec {

template <class T, class I>
void topk(const T* scores,  // (n_rows, n_items)
          int64_t n_rows, int64_t n_items, int64_t k,
          const I* excl_indptr, const I* excl_indices,  // CSR (n_rows, n_items), sorted rows; or nullptr
          const int64_t* candidates, int64_t n_candidates,  // ascending unique item ids, or nullptr
          int64_t* out_index,  // (n_rows, k) out
          T* out_score,        // (n_rows, k) out
          int n_threads);

}  // namespace aerec

// aerec — the item-major (transposed) view of a CSR batch, built once per backward pass.
//
// Weight gradients of the sparse layers are sums over the users who hold an item:
//   dW[j] = Σ_{r : j ∈ row r} coef(r, j) · G[r]
// Computing them item by item, with each item's terms added in row order, lets threads own
// disjoint output rows (no atomics) and makes the result independent of the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "aerec/common.h"
#include "aerec/gather.h"
#include "aerec/parallel.h"

namespace aerec {

struct ItemMajor {
    std::vector<int64_t> items;  // (m,)     the items present in the batch, ascending
    std::vector<int64_t> ptr;    // (m + 1,) item p's entries are [ptr[p], ptr[p+1])
    std::vector<int64_t> rows;   // (nnz,)   row of each entry, ascending within an item
    std::vector<int64_t> pos;    // (nnz,)   position of the entry in the CSR arrays
};

// O(nnz + n_cols), serial: it is a small fraction of the backward pass it serves.
template <class I>
ItemMajor build_item_major(const I* indptr, const I* indices, int64_t n_rows, int64_t n_cols) {
    ItemMajor im;
    std::vector<int64_t> slot(static_cast<size_t>(n_cols), 0);  // count, then compact id + 1
    const int64_t nnz = static_cast<int64_t>(indptr[n_rows]);
    for (int64_t k = 0; k < nnz; ++k) ++slot[static_cast<size_t>(indices[k])];
    im.ptr.push_back(0);
    for (int64_t j = 0; j < n_cols; ++j) {
        if (slot[j] == 0) continue;
        im.items.push_back(j);
        im.ptr.push_back(im.ptr.back() + slot[j]);
        slot[j] = static_cast<int64_t>(im.items.size());
    }
    std::vector<int64_t> fill(im.ptr.begin(), im.ptr.end() - 1);
    im.rows.resize(static_cast<size_t>(nnz));
    im.pos.resize(static_cast<size_t>(nnz));
    for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t k = indptr[r]; k < static_cast<int64_t>(indptr[r + 1]); ++k) {
            const int64_t p = slot[static_cast<size_t>(indices[k])] - 1;
            const int64_t t = fill[p]++;
            im.rows[t] = r;
            im.pos[t] = k;
        }
    }
    return im;
}

// out[p] = Σ_t coef(p, t) · G[rows[t]] over item p's entries, for every present item p.
//   G: (n_rows, h) row-major; out: (m, h). coef(p, t) receives the item's compact id p and the
//   entry's index t into rows/pos; the coefficients are evaluated once, then gathered tile by tile.
template <class T, class Coef>
void accumulate_by_item(const ItemMajor& im, const T* G, int64_t n_rows, int64_t h, T* out, int n_threads,
                        Coef&& coef) {
    const int64_t m = static_cast<int64_t>(im.items.size());
    std::vector<T> c(im.rows.size());
    parallel_for(m, n_threads, [&](int64_t p) {
        for (int64_t t = im.ptr[p]; t < im.ptr[p + 1]; ++t) c[t] = coef(p, t);
    }, 64);
    csr_gather_accumulate<T>(im.ptr.data(), im.rows.data(), c.data(), m, n_rows, h, G, nullptr, out, n_threads);
}

}  // namespace aerec

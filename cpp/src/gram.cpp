// aerec — gram, CPU bodies: G = XᵀX row by row over the item-major view (see gram.h).
#include "aerec/gram.h"

#include "aerec/parallel.h"

namespace aerec {

template <class T, class I>
void sparse_gram(const Csr<I, T>& X, const int64_t* col_ptr, const int64_t* col_rows, const int64_t* col_pos, T* G,
                 int n_threads) {
    const int64_t n = X.n_cols;
    parallel_for(n, n_threads, [&](int64_t i) {
        T* __restrict g = G + i * n;
        for (int64_t j = 0; j < n; ++j) g[j] = T(0);
        for (int64_t t = col_ptr[i]; t < col_ptr[i + 1]; ++t) {
            const int64_t u = col_rows[t];
            const T a = X.data[col_pos[t]];
            for (int64_t k = X.indptr[u]; k < static_cast<int64_t>(X.indptr[u + 1]); ++k) g[X.indices[k]] += a * X.data[k];
        }
    }, 8);
}

template void sparse_gram<float, int32_t>(const Csr<int32_t, float>&, const int64_t*, const int64_t*, const int64_t*,
                                          float*, int);
template void sparse_gram<float, int64_t>(const Csr<int64_t, float>&, const int64_t*, const int64_t*, const int64_t*,
                                          float*, int);
template void sparse_gram<double, int32_t>(const Csr<int32_t, double>&, const int64_t*, const int64_t*,
                                           const int64_t*, double*, int);
template void sparse_gram<double, int64_t>(const Csr<int64_t, double>&, const int64_t*, const int64_t*,
                                           const int64_t*, double*, int);

}  // namespace aerec

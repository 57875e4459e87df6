// aerec — masked_decoder, CPU bodies: outputs only at the mask's stored entries (SDDMM) and the
// gradients scattered back — dH row-parallel, dV/dc item-parallel over the item-major view.
#include "aerec/masked_decoder.h"

#include "aerec/gather.h"
#include "aerec/parallel.h"

namespace aerec {

template <class T, class I>
void masked_decoder_forward(const Csr<I, T>& mask, const T* H, const T* V, const T* c, int64_t h, T* out,
                            int n_threads) {
    parallel_for(mask.n_rows, n_threads, [&](int64_t r) {
        const T* __restrict hr = H + r * h;
        for (int64_t k = mask.indptr[r]; k < static_cast<int64_t>(mask.indptr[r + 1]); ++k) {
            const int64_t j = mask.indices[k];
            const T* __restrict v = V + j * h;
            T s = T(0);
#pragma omp simd reduction(+ : s)
            for (int64_t t = 0; t < h; ++t) s += hr[t] * v[t];
            out[k] = c ? s + c[j] : s;
        }
    });
}

template <class T, class I>
void masked_decoder_backward(const Csr<I, T>& mask, const ItemMajor& im, const T* H, const T* V, const T* d_out,
                             int64_t h, T* dH, T* dV, T* dc, int n_threads) {
    // dH = Σ d_out_k · V[j_k] per row: the same gather as the encoder's forward pass.
    if (dH) csr_gather_accumulate<T>(mask.indptr, mask.indices, d_out, mask.n_rows, mask.n_cols, h, V, nullptr, dH,
                                     n_threads);
    accumulate_by_item(im, H, mask.n_rows, h, dV, n_threads, [&](int64_t, int64_t t) { return d_out[im.pos[t]]; });
    if (dc) {
        const int64_t m = static_cast<int64_t>(im.items.size());
        parallel_for(m, n_threads, [&](int64_t p) {
            T s = T(0);
            for (int64_t t = im.ptr[p]; t < im.ptr[p + 1]; ++t) s += d_out[im.pos[t]];
            dc[p] = s;
        }, 256);
    }
}

#define AEREC_INSTANTIATE(T, I)                                                                                      \
    template void masked_decoder_forward<T, I>(const Csr<I, T>&, const T*, const T*, const T*, int64_t, T*, int);   \
    template void masked_decoder_backward<T, I>(const Csr<I, T>&, const ItemMajor&, const T*, const T*, const T*,    \
                                                int64_t, T*, T*, T*, int);
AEREC_INSTANTIATE(float, int32_t)
AEREC_INSTANTIATE(float, int64_t)
AEREC_INSTANTIATE(double, int32_t)
AEREC_INSTANTIATE(double, int64_t)
#undef AEREC_INSTANTIATE

}  // namespace aerec

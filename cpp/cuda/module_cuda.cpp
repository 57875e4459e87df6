// aerec — the CUDA extension module (_aerec_cuda). Kernels take device pointers as integers (from
// a GPU array library such as CuPy: `arr.data.ptr`) plus sizes, a dtype name and a stream handle;
// memory and GEMMs stay with that library. Same family and function names as the CPU module.
//
// What is checked where. Here, before any launch: every size is >= 0 and products of sizes do not
// overflow, every pointer a kernel will dereference is non-null, dtype names are known, scalar
// hyper-parameters are in range. Index *contents* (CSR structure, column indices < n_cols, the
// item-major view, top-k exclusion lists, the *_step_rows' rows) cannot be read from the host
// without a copy: the Python layer (aerec.engine.cuda) validates every CSR matrix on the host with
// aerec._validation.check_csr before uploading it, and builds the item-major views and row slots
// on the device from those validated arrays only. The kernels trust what they are given.
// Kernels are launched asynchronously on the given stream; errors of the launch are raised here,
// errors during execution surface at the array library's next synchronisation.
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <string>

#include "activations.h"
#include "aerec/elementwise.h"
#include "arrays.h"
#include "gram.h"
#include "losses.h"
#include "masked_decoder.h"
#include "optim.h"
#include "sparse_encoder.h"
#include "topk.h"

#ifndef AEREC_VERSION
#define AEREC_VERSION "0.0.0"
#endif

namespace py = pybind11;
namespace cu = aerec::cuda;

namespace {

void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

int device_count() {
    int n = 0;
    // No driver or no device is "zero devices", not an error: the CPU path is then used.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

[[noreturn]] void fail(const std::string& msg) { aerec::fail_value(msg); }

using aerec::check_rate;
using aerec::with_csr_names;
using aerec::with_float_name;

template <class T>
T* dptr(uintptr_t p) {
    return reinterpret_cast<T*>(p);
}
cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

void nonneg(int64_t n, const char* name) {
    if (n < 0) fail(std::string(name) + " must be >= 0, got " + std::to_string(n));
}
// a·b, refusing sizes whose product overflows int64.
int64_t product(int64_t a, int64_t b, const char* what) {
    nonneg(a, what);
    nonneg(b, what);
    if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) fail(std::string(what) + ": size overflows int64");
    return a * b;
}
// A pointer the kernel will read or write (n elements): must be non-null when n > 0.
void need(uintptr_t p, int64_t n, const char* name) {
    if (n > 0 && p == 0) fail(std::string(name) + ": null device pointer for " + std::to_string(n) + " elements");
}

// Runs a launcher with the GIL released and raises its error.
template <class F>
void launch(const char* what, F&& f) {
    cudaError_t err;
    {
        py::gil_scoped_release release;
        err = f();
    }
    check(err, what);
}

// CSR pointers: indptr (n_rows + 1), indices and data (nnz).
void need_csr(uintptr_t indptr, uintptr_t indices, int64_t n_rows, int64_t n_cols, int64_t nnz, const char* name) {
    nonneg(n_rows, "n_rows");
    nonneg(n_cols, "n_cols");
    nonneg(nnz, "nnz");
    need(indptr, n_rows + 1, name);
    need(indices, nnz, name);
}

// ---- sparse_encoder ------------------------------------------------------------------------------

void sparse_encoder_forward(uintptr_t indptr, uintptr_t indices, uintptr_t data, const std::string& index_dtype,
                            int64_t n_rows, int64_t n_cols, int64_t nnz, uintptr_t W, uintptr_t b,
                            uintptr_t row_scale, int64_t h, double dropout, uint64_t seed, uint64_t step,
                            int64_t row_offset, uintptr_t coef, uintptr_t Z, const std::string& dtype,
                            uintptr_t stream) {
    need_csr(indptr, indices, n_rows, n_cols, nnz, "X");
    need(data, nnz, "X.data");
    need(coef, nnz, "coef");
    need(W, product(n_cols, h, "W"), "W");
    need(Z, product(n_rows, h, "Z"), "Z");
    check_rate(dropout, "dropout");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("sparse_encoder_forward", [&] {
            return cu::sparse_encoder_forward<T, I>(dptr<I>(indptr), dptr<I>(indices), dptr<T>(data), n_rows,
                                                    dptr<T>(W), dptr<T>(b), dptr<T>(row_scale), h, dropout, seed,
                                                    step, row_offset, dptr<T>(coef), dptr<T>(Z), as_stream(stream));
        });
    });
}

void sparse_encoder_backward(uintptr_t data, int64_t nnz, uintptr_t im_items, uintptr_t im_ptr, uintptr_t im_rows,
                             uintptr_t im_pos, int64_t m, int64_t n_rows, uintptr_t dZ, uintptr_t row_scale,
                             int64_t h, double dropout, uint64_t seed, uint64_t step, int64_t row_offset,
                             uintptr_t coef, uintptr_t dW, const std::string& dtype, uintptr_t stream) {
    nonneg(nnz, "nnz");
    nonneg(m, "m");
    need(data, nnz, "X.data");
    need(im_items, m, "im_items");
    need(im_ptr, m + 1, "im_ptr");
    need(im_rows, nnz, "im_rows");
    need(im_pos, nnz, "im_pos");
    need(coef, nnz, "coef");
    need(dZ, product(n_rows, h, "dZ"), "dZ");
    need(dW, product(m, h, "dW"), "dW");
    check_rate(dropout, "dropout");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("sparse_encoder_backward", [&] {
            return cu::sparse_encoder_backward<T>(dptr<T>(data), dptr<int64_t>(im_items), dptr<int64_t>(im_ptr),
                                                  dptr<int64_t>(im_rows), dptr<int64_t>(im_pos), m, n_rows,
                                                  dptr<T>(dZ), dptr<T>(row_scale), h, dropout, seed, step, row_offset,
                                                  dptr<T>(coef), dptr<T>(dW), as_stream(stream));
        });
    });
}

// ---- masked_decoder ------------------------------------------------------------------------------

void masked_decoder_forward(uintptr_t indptr, uintptr_t indices, const std::string& index_dtype, int64_t n_rows,
                            int64_t n_cols, int64_t nnz, uintptr_t H, uintptr_t V, uintptr_t c, int64_t h,
                            uintptr_t out, const std::string& dtype, uintptr_t stream) {
    need_csr(indptr, indices, n_rows, n_cols, nnz, "mask");
    need(H, product(n_rows, h, "H"), "H");
    need(V, product(n_cols, h, "V"), "V");
    need(out, nnz, "out");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("masked_decoder_forward", [&] {
            return cu::masked_decoder_forward<T, I>(dptr<I>(indptr), dptr<I>(indices), n_rows, dptr<T>(H),
                                                    dptr<T>(V), dptr<T>(c), h, dptr<T>(out), as_stream(stream));
        });
    });
}

void masked_decoder_backward(uintptr_t indptr, uintptr_t indices, const std::string& index_dtype, int64_t n_rows,
                             int64_t n_cols, int64_t nnz, uintptr_t im_ptr, uintptr_t im_rows, uintptr_t im_pos,
                             int64_t m, uintptr_t H, uintptr_t V, uintptr_t d_out, int64_t h, uintptr_t coef,
                             uintptr_t dH, uintptr_t dV, uintptr_t dc, const std::string& dtype, uintptr_t stream) {
    need_csr(indptr, indices, n_rows, n_cols, nnz, "mask");
    nonneg(m, "m");
    need(im_ptr, m + 1, "im_ptr");
    need(im_rows, nnz, "im_rows");
    need(im_pos, nnz, "im_pos");
    need(H, product(n_rows, h, "H"), "H");
    need(V, product(n_cols, h, "V"), "V");
    need(d_out, nnz, "d_out");
    need(coef, nnz, "coef");
    need(dV, product(m, h, "dV"), "dV");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("masked_decoder_backward", [&] {
            return cu::masked_decoder_backward<T, I>(dptr<I>(indptr), dptr<I>(indices), n_rows,
                                                     dptr<int64_t>(im_ptr), dptr<int64_t>(im_rows),
                                                     dptr<int64_t>(im_pos), m, nnz, dptr<T>(H), dptr<T>(V),
                                                     dptr<T>(d_out), h, dptr<T>(coef), dptr<T>(dH), dptr<T>(dV),
                                                     dptr<T>(dc), as_stream(stream));
        });
    });
}

// ---- losses --------------------------------------------------------------------------------------

void masked_mse(uintptr_t pred, uintptr_t target, int64_t n, double scale, uintptr_t grad, uintptr_t partials,
                uintptr_t loss, const std::string& dtype, uintptr_t stream) {
    nonneg(n, "n");
    need(pred, n, "pred");
    need(target, n, "target");
    need(partials, 1, "partials");
    need(loss, 1, "loss");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("masked_mse", [&] {
            return cu::masked_mse<T>(dptr<T>(pred), dptr<T>(target), n, scale, dptr<T>(grad), dptr<double>(partials),
                                     dptr<double>(loss), as_stream(stream));
        });
    });
}

void multinomial_loss_grad(uintptr_t logits, uintptr_t c, uintptr_t indptr, uintptr_t indices, uintptr_t data,
                           const std::string& index_dtype, int64_t n_rows, int64_t n_items, int64_t nnz, double scale,
                           uintptr_t row_loss, uintptr_t loss, const std::string& dtype, uintptr_t stream) {
    need_csr(indptr, indices, n_rows, n_items, nnz, "X");
    need(data, nnz, "X.data");
    need(logits, product(n_rows, n_items, "logits"), "logits");
    need(row_loss, n_rows, "row_loss");
    need(loss, 1, "loss");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("multinomial_loss_grad", [&] {
            return cu::multinomial_loss_grad<T, I>(dptr<T>(logits), dptr<T>(c), dptr<I>(indptr), dptr<I>(indices),
                                                   dptr<T>(data), n_rows, n_items, scale, dptr<double>(row_loss),
                                                   dptr<double>(loss), as_stream(stream));
        });
    });
}

void gaussian_kl(uintptr_t mu, uintptr_t logvar, int64_t n, double scale, uintptr_t dmu, uintptr_t dlogvar,
                 uintptr_t partials, uintptr_t loss, const std::string& dtype, uintptr_t stream) {
    nonneg(n, "n");
    need(mu, n, "mu");
    need(logvar, n, "logvar");
    need(partials, 1, "partials");
    need(loss, 1, "loss");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("gaussian_kl", [&] {
            return cu::gaussian_kl<T>(dptr<T>(mu), dptr<T>(logvar), n, scale, dptr<T>(dmu), dptr<T>(dlogvar),
                                      dptr<double>(partials), dptr<double>(loss), as_stream(stream));
        });
    });
}

// ---- activations ---------------------------------------------------------------------------------

void check_kind(int kind) {
    if (kind < 0 || kind >= aerec::kNumActivations) fail("unknown activation code " + std::to_string(kind));
}

void activation_forward(int kind, double alpha, uintptr_t Z, int64_t n, uintptr_t Y, const std::string& dtype,
                        uintptr_t stream) {
    check_kind(kind);
    nonneg(n, "n");
    need(Z, n, "Z");
    need(Y, n, "Y");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("activation_forward", [&] {
            return cu::activation_forward<T>(kind, T(alpha), dptr<T>(Z), n, dptr<T>(Y), as_stream(stream));
        });
    });
}

void activation_backward(int kind, double alpha, uintptr_t Z, uintptr_t Y, uintptr_t dY, int64_t n, uintptr_t dZ,
                         const std::string& dtype, uintptr_t stream) {
    check_kind(kind);
    nonneg(n, "n");
    for (auto [p, name] : {std::pair{Z, "Z"}, {Y, "Y"}, {dY, "dY"}, {dZ, "dZ"}}) need(p, n, name);
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("activation_backward", [&] {
            return cu::activation_backward<T>(kind, T(alpha), dptr<T>(Z), dptr<T>(Y), dptr<T>(dY), n, dptr<T>(dZ),
                                              as_stream(stream));
        });
    });
}

void dropout(uintptr_t X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
             int64_t row_offset, uintptr_t Y, const std::string& dtype, uintptr_t stream) {
    check_rate(rate, "rate");
    const int64_t n = product(n_rows, n_cols, "X");
    need(X, n, "X");
    need(Y, n, "Y");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("dropout", [&] {
            return cu::dropout<T>(dptr<T>(X), n_rows, n_cols, rate, seed, step, row_offset, dptr<T>(Y),
                                  as_stream(stream));
        });
    });
}

template <bool Normal>
void random_draws(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, uintptr_t out,
                  const std::string& dtype, uintptr_t stream) {
    need(out, product(n_rows, n_cols, "out"), "out");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch(Normal ? "random_normal" : "random_uniform", [&] {
            T* o = dptr<T>(out);
            return Normal ? cu::random_normal<T>(n_rows, n_cols, seed, step, row_offset, o, as_stream(stream))
                          : cu::random_uniform<T>(n_rows, n_cols, seed, step, row_offset, o, as_stream(stream));
        });
    });
}

// ---- optim ---------------------------------------------------------------------------------------

void check_adam(int64_t t, double lr, double beta1, double beta2, double eps, double weight_decay) {
    if (t < 1) fail("t (the step count) must be >= 1");
    if (!(lr >= 0.0)) fail("lr must be >= 0");
    check_rate(beta1, "beta1");
    check_rate(beta2, "beta2");
    if (!(eps > 0.0)) fail("eps must be > 0");
    if (!(weight_decay >= 0.0)) fail("weight_decay must be >= 0");
}

void sgd_step(uintptr_t param, uintptr_t grad, uintptr_t velocity, int64_t n, double lr, double momentum,
              bool nesterov, double weight_decay, const std::string& dtype, uintptr_t stream) {
    nonneg(n, "n");
    need(param, n, "param");
    need(grad, n, "grad");
    if (momentum != 0.0) need(velocity, n, "velocity");
    if (!(lr >= 0.0) || !(momentum >= 0.0 && momentum <= 1.0) || !(weight_decay >= 0.0))
        fail("sgd_step: need lr >= 0, momentum in [0, 1], weight_decay >= 0");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("sgd_step", [&] {
            return cu::sgd_step<T>(dptr<T>(param), dptr<T>(grad), dptr<T>(velocity), n, lr, momentum, nesterov,
                                   weight_decay, as_stream(stream));
        });
    });
}

void sgd_step_rows(uintptr_t param, int64_t n_rows, int64_t n_cols, uintptr_t slot, uintptr_t grad_rows,
                   int64_t n_present, uintptr_t velocity, double lr, double momentum, bool nesterov,
                   double weight_decay, const std::string& dtype, uintptr_t stream) {
    const int64_t n = product(n_rows, n_cols, "param");
    need(param, n, "param");
    if (momentum != 0.0) need(velocity, n, "velocity");
    need(slot, n_rows, "slot");
    need(grad_rows, product(n_present, n_cols, "grad_rows"), "grad_rows");
    if (n_present > n_rows) fail("n_present must be <= n_rows");
    if (!(lr >= 0.0) || !(momentum >= 0.0 && momentum <= 1.0) || !(weight_decay >= 0.0))
        fail("sgd_step_rows: need lr >= 0, momentum in [0, 1], weight_decay >= 0");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("sgd_step_rows", [&] {
            return cu::sgd_step_rows<T>(dptr<T>(param), n_rows, n_cols, dptr<int64_t>(slot), dptr<T>(grad_rows),
                                        dptr<T>(velocity), lr, momentum, nesterov, weight_decay, as_stream(stream));
        });
    });
}

void adam_step(uintptr_t param, uintptr_t grad, uintptr_t m, uintptr_t v, int64_t n, int64_t t_step, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled, const std::string& dtype,
               uintptr_t stream) {
    nonneg(n, "n");
    for (auto [p, name] : {std::pair{param, "param"}, {grad, "grad"}, {m, "m"}, {v, "v"}}) need(p, n, name);
    check_adam(t_step, lr, beta1, beta2, eps, weight_decay);
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("adam_step", [&] {
            return cu::adam_step<T>(dptr<T>(param), dptr<T>(grad), dptr<T>(m), dptr<T>(v), n, t_step, lr, beta1,
                                    beta2, eps, weight_decay, decoupled, as_stream(stream));
        });
    });
}

void adam_step_rows(uintptr_t param, int64_t n_rows, int64_t n_cols, uintptr_t slot, uintptr_t grad_rows,
                    int64_t n_present, uintptr_t m, uintptr_t v, int64_t t_step, double lr, double beta1,
                    double beta2, double eps, double weight_decay, bool decoupled, const std::string& dtype,
                    uintptr_t stream) {
    const int64_t n = product(n_rows, n_cols, "param");
    for (auto [p, name] : {std::pair{param, "param"}, {m, "m"}, {v, "v"}}) need(p, n, name);
    need(slot, n_rows, "slot");
    need(grad_rows, product(n_present, n_cols, "grad_rows"), "grad_rows");
    if (n_present > n_rows) fail("n_present must be <= n_rows");
    check_adam(t_step, lr, beta1, beta2, eps, weight_decay);
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("adam_step_rows", [&] {
            return cu::adam_step_rows<T>(dptr<T>(param), n_rows, n_cols, dptr<int64_t>(slot), dptr<T>(grad_rows),
                                         dptr<T>(m), dptr<T>(v), t_step, lr, beta1, beta2, eps, weight_decay,
                                         decoupled, as_stream(stream));
        });
    });
}

void rprop_step(uintptr_t param, uintptr_t grad, uintptr_t prev_grad, uintptr_t step_size, int64_t n,
                double eta_minus, double eta_plus, double step_min, double step_max, const std::string& dtype,
                uintptr_t stream) {
    nonneg(n, "n");
    for (auto [p, name] : {std::pair{param, "param"}, {grad, "grad"}, {prev_grad, "prev_grad"},
                           {step_size, "step_size"}})
        need(p, n, name);
    if (!(eta_minus > 0.0 && eta_minus < 1.0) || !(eta_plus > 1.0) || !(step_min >= 0.0) || !(step_max >= step_min))
        fail("rprop_step: need 0 < eta_minus < 1 < eta_plus and 0 <= step_min <= step_max");
    with_float_name(dtype, [&](auto t) {
        using T = decltype(t);
        launch("rprop_step", [&] {
            return cu::rprop_step<T>(dptr<T>(param), dptr<T>(grad), dptr<T>(prev_grad), dptr<T>(step_size), n,
                                     eta_minus, eta_plus, step_min, step_max, as_stream(stream));
        });
    });
}

// ---- topk ----------------------------------------------------------------------------------------

void topk_keys(uintptr_t scores, int64_t n_rows, int64_t n_items, uintptr_t excl_indptr, uintptr_t excl_indices,
               int64_t excl_nnz, const std::string& index_dtype, uintptr_t allowed, uintptr_t keys,
               const std::string& dtype, uintptr_t stream) {
    const int64_t n = product(n_rows, n_items, "scores");
    need(scores, n, "scores");
    need(keys, n, "keys");
    if (excl_indptr == 0 && (excl_indices != 0 || excl_nnz != 0)) fail("exclude: indices given without indptr");
    if (excl_indptr) need_csr(excl_indptr, excl_indices, n_rows, n_items, excl_nnz, "exclude");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("topk_keys", [&] {
            return cu::topk_keys<T, I>(dptr<T>(scores), n_rows, n_items, dptr<I>(excl_indptr),
                                       dptr<I>(excl_indices), dptr<uint8_t>(allowed), dptr<void>(keys),
                                       as_stream(stream));
        });
    });
}

// ---- gram ----------------------------------------------------------------------------------------

void sparse_gram(uintptr_t indptr, uintptr_t indices, uintptr_t data, const std::string& index_dtype, int64_t n_rows,
                 int64_t n_items, int64_t nnz, uintptr_t col_ptr, uintptr_t col_rows, uintptr_t col_pos, uintptr_t G,
                 const std::string& dtype, uintptr_t stream) {
    need_csr(indptr, indices, n_rows, n_items, nnz, "X");
    need(data, nnz, "X.data");
    need(col_ptr, n_items + 1, "col_ptr");
    need(col_rows, nnz, "col_rows");
    need(col_pos, nnz, "col_pos");
    need(G, product(n_items, n_items, "G"), "G");
    with_csr_names(dtype, index_dtype, [&](auto t, auto i) {
        using T = decltype(t);
        using I = decltype(i);
        launch("sparse_gram", [&] {
            return cu::sparse_gram<T, I>(dptr<I>(indptr), dptr<I>(indices), dptr<T>(data), n_items,
                                         dptr<int64_t>(col_ptr), dptr<int64_t>(col_rows), dptr<int64_t>(col_pos),
                                         dptr<T>(G), as_stream(stream));
        });
    });
}

// ---- device memory for tests without an array library ------------------------------------------
// Enough to run the kernels against the NumPy oracles where CuPy is not installed: allocate, copy
// a host buffer in or out, free, synchronise. Not for production use (no pooling, no streams).

uintptr_t test_malloc(int64_t n_bytes) {
    nonneg(n_bytes, "n_bytes");
    void* p = nullptr;
    check(cudaMalloc(&p, static_cast<size_t>(n_bytes > 0 ? n_bytes : 1)), "cudaMalloc");
    return reinterpret_cast<uintptr_t>(p);
}
void test_free(uintptr_t p) { check(cudaFree(reinterpret_cast<void*>(p)), "cudaFree"); }
void test_upload(uintptr_t dst, py::buffer src) {
    const py::buffer_info info = src.request();
    const size_t n = static_cast<size_t>(info.size * info.itemsize);
    if (n && dst == 0) fail("upload: null device pointer");
    check(cudaMemcpy(reinterpret_cast<void*>(dst), info.ptr, n, cudaMemcpyHostToDevice), "cudaMemcpy (upload)");
}
void test_download(py::buffer dst, uintptr_t src) {
    const py::buffer_info info = dst.request(true);
    const size_t n = static_cast<size_t>(info.size * info.itemsize);
    if (n && src == 0) fail("download: null device pointer");
    check(cudaMemcpy(info.ptr, reinterpret_cast<const void*>(src), n, cudaMemcpyDeviceToHost), "cudaMemcpy (download)");
}
void synchronize() {
    py::gil_scoped_release release;
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace

PYBIND11_MODULE(_aerec_cuda, m) {
    m.doc() = "aerec CUDA kernels (device pointers in, same family names as the CPU module)";
    using py::arg;
    m.def("device_count", &device_count);
    m.def("build_info", [] {
        py::dict d;
        d["version"] = AEREC_VERSION;
        int rt = 0;
        cudaRuntimeGetVersion(&rt);
        d["cuda_runtime"] = rt;
        d["architectures"] = AEREC_CUDA_ARCHS;
        return d;
    });
    m.attr("loss_scratch_size") = cu::loss_scratch_size();
    const auto s = arg("stream") = 0;
    m.def("sparse_encoder_forward", &sparse_encoder_forward, arg("indptr"), arg("indices"), arg("data"),
          arg("index_dtype"), arg("n_rows"), arg("n_cols"), arg("nnz"), arg("W"), arg("b"), arg("row_scale"), arg("h"),
          arg("dropout"), arg("seed"), arg("step"), arg("row_offset"), arg("coef"), arg("Z"), arg("dtype"), s);
    m.def("sparse_encoder_backward", &sparse_encoder_backward, arg("data"), arg("nnz"), arg("im_items"),
          arg("im_ptr"), arg("im_rows"), arg("im_pos"), arg("m"), arg("n_rows"), arg("dZ"), arg("row_scale"), arg("h"),
          arg("dropout"), arg("seed"), arg("step"), arg("row_offset"), arg("coef"), arg("dW"), arg("dtype"), s);
    m.def("masked_decoder_forward", &masked_decoder_forward, arg("indptr"), arg("indices"), arg("index_dtype"),
          arg("n_rows"), arg("n_cols"), arg("nnz"), arg("H"), arg("V"), arg("c"), arg("h"), arg("out"), arg("dtype"),
          s);
    m.def("masked_decoder_backward", &masked_decoder_backward, arg("indptr"), arg("indices"), arg("index_dtype"),
          arg("n_rows"), arg("n_cols"), arg("nnz"), arg("im_ptr"), arg("im_rows"), arg("im_pos"), arg("m"), arg("H"),
          arg("V"), arg("d_out"), arg("h"), arg("coef"), arg("dH"), arg("dV"), arg("dc"), arg("dtype"), s);
    m.def("masked_mse", &masked_mse, arg("pred"), arg("target"), arg("n"), arg("scale"), arg("grad"), arg("partials"),
          arg("loss"), arg("dtype"), s);
    m.def("multinomial_loss_grad", &multinomial_loss_grad, arg("logits"), arg("c"), arg("indptr"), arg("indices"),
          arg("data"), arg("index_dtype"), arg("n_rows"), arg("n_items"), arg("nnz"), arg("scale"), arg("row_loss"),
          arg("loss"), arg("dtype"), s);
    m.def("gaussian_kl", &gaussian_kl, arg("mu"), arg("logvar"), arg("n"), arg("scale"), arg("dmu"), arg("dlogvar"),
          arg("partials"), arg("loss"), arg("dtype"), s);
    m.def("activation_forward", &activation_forward, arg("kind"), arg("alpha"), arg("Z"), arg("n"), arg("Y"),
          arg("dtype"), s);
    m.def("activation_backward", &activation_backward, arg("kind"), arg("alpha"), arg("Z"), arg("Y"), arg("dY"),
          arg("n"), arg("dZ"), arg("dtype"), s);
    m.def("dropout", &dropout, arg("X"), arg("n_rows"), arg("n_cols"), arg("rate"), arg("seed"), arg("step"),
          arg("row_offset"), arg("Y"), arg("dtype"), s);
    m.def("random_uniform", &random_draws<false>, arg("n_rows"), arg("n_cols"), arg("seed"), arg("step"),
          arg("row_offset"), arg("out"), arg("dtype"), s);
    m.def("random_normal", &random_draws<true>, arg("n_rows"), arg("n_cols"), arg("seed"), arg("step"),
          arg("row_offset"), arg("out"), arg("dtype"), s);
    m.def("sgd_step", &sgd_step, arg("param"), arg("grad"), arg("velocity"), arg("n"), arg("lr"), arg("momentum"),
          arg("nesterov"), arg("weight_decay"), arg("dtype"), s);
    m.def("sgd_step_rows", &sgd_step_rows, arg("param"), arg("n_rows"), arg("n_cols"), arg("slot"), arg("grad_rows"),
          arg("n_present"), arg("velocity"), arg("lr"), arg("momentum"), arg("nesterov"), arg("weight_decay"),
          arg("dtype"), s);
    m.def("adam_step", &adam_step, arg("param"), arg("grad"), arg("m"), arg("v"), arg("n"), arg("t"), arg("lr"),
          arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay"), arg("decoupled"), arg("dtype"), s);
    m.def("adam_step_rows", &adam_step_rows, arg("param"), arg("n_rows"), arg("n_cols"), arg("slot"),
          arg("grad_rows"), arg("n_present"), arg("m"), arg("v"), arg("t"), arg("lr"), arg("beta1"), arg("beta2"),
          arg("eps"), arg("weight_decay"), arg("decoupled"), arg("dtype"), s);
    m.def("rprop_step", &rprop_step, arg("param"), arg("grad"), arg("prev_grad"), arg("step_size"), arg("n"),
          arg("eta_minus"), arg("eta_plus"), arg("step_min"), arg("step_max"), arg("dtype"), s);
    m.def("topk_keys", &topk_keys, arg("scores"), arg("n_rows"), arg("n_items"), arg("excl_indptr"),
          arg("excl_indices"), arg("excl_nnz"), arg("index_dtype"), arg("allowed"), arg("keys"), arg("dtype"), s);
    m.def("sparse_gram", &sparse_gram, arg("indptr"), arg("indices"), arg("data"), arg("index_dtype"), arg("n_rows"),
          arg("n_items"), arg("nnz"), arg("col_ptr"), arg("col_rows"), arg("col_pos"), arg("G"), arg("dtype"), s);
    // device memory for tests (see above)
    m.def("_test_malloc", &test_malloc, arg("n_bytes"));
    m.def("_test_free", &test_free, arg("ptr"));
    m.def("_test_upload", &test_upload, arg("dst"), arg("src"));
    m.def("_test_download", &test_download, arg("dst"), arg("src"));
    m.def("synchronize", &synchronize);
}

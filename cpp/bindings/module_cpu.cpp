// aerec — the CPU extension module. Thin by design: check arrays (arrays.h), allocate outputs,
// release the GIL, call the kernel. Built once per instruction-set variant (CMake's AEREC_ISA
// list); each variant is a separate module (_aerec_cpu, _aerec_cpu_avx2, _aerec_cpu_avx512) and
// aerec._native imports the best one the CPU supports.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <string>

#include "aerec/activations.h"
#include "aerec/elementwise.h"
#include "aerec/gemm_bf16.h"
#include "aerec/gemm_f32.h"
#include "aerec/gram.h"
#include "aerec/losses.h"
#include "aerec/masked_decoder.h"
#include "aerec/optim.h"
#include "aerec/parallel.h"
#include "aerec/sparse_encoder.h"
#include "aerec/screened_topk.h"
#include "aerec/topk.h"
#include "arrays.h"

#ifndef AEREC_MODULE_NAME
#define AEREC_MODULE_NAME _aerec_cpu
#endif
#ifndef AEREC_ISA_NAME
#define AEREC_ISA_NAME "generic"
#endif
#ifndef AEREC_VERSION
#define AEREC_VERSION "0.0.0"
#endif

namespace py = pybind11;
using namespace aerec;

namespace {

py::array_t<int64_t> to_numpy(const std::vector<int64_t>& v) {
    py::array_t<int64_t> a(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

// The item-major view of X's pattern (items with entries, their rows), built without the GIL.
template <class I, class T>
ItemMajor item_major(const Csr<I, T>& X) {
    ItemMajor im;
    nogil([&] { im = build_item_major<I>(X.indptr, X.indices, X.n_rows, X.n_cols); });
    return im;
}

// ---- sparse_encoder ---------------------------------------------------------------------------

py::array sparse_encoder_forward_py(py::array indptr, py::array indices, py::array data, int64_t n_cols, py::array W,
                                    py::object b, py::object row_scale, double dropout, uint64_t seed, uint64_t step,
                                    int64_t row_offset, int n_threads) {
    check_rate(dropout, "dropout");
    return with_csr_kernel(n_threads, W, "W", indices, [&](auto t, auto i) -> py::array {
        using T = decltype(t);
        using I = decltype(i);
        const auto X = csr_arg<T, I>(indptr, indices, &data, n_cols, "X");
        check_ndim(W, "W", 2, "(n_items, n_hidden)");
        const int64_t h = W.shape(1);
        const T* w = in_ptr<T>(W, "W", {n_cols, h});
        const T* bp = opt_in_ptr<T>(b, "b", {h});
        const T* dp = opt_in_ptr<T>(row_scale, "row_scale", {X.n_rows});
        return run_into_new<T>({X.n_rows, h}, [&](T* z) {
            sparse_encoder_forward<T, I>(X, w, bp, dp, h, dropout, seed, step, row_offset, z, n_threads);
        });
    });
}

py::tuple sparse_encoder_backward_py(py::array indptr, py::array indices, py::array data, int64_t n_cols,
                                     py::array dZ, py::object row_scale, double dropout, uint64_t seed, uint64_t step,
                                     int64_t row_offset, int n_threads) {
    check_rate(dropout, "dropout");
    return with_csr_kernel(n_threads, dZ, "dZ", indices, [&](auto t, auto i) -> py::tuple {
        using T = decltype(t);
        using I = decltype(i);
        const auto X = csr_arg<T, I>(indptr, indices, &data, n_cols, "X");
        check_ndim(dZ, "dZ", 2, "(n_rows, n_hidden)");
        const int64_t h = dZ.shape(1);
        const T* dz = in_ptr<T>(dZ, "dZ", {X.n_rows, h});
        const T* dp = opt_in_ptr<T>(row_scale, "row_scale", {X.n_rows});
        const ItemMajor im = item_major(X);
        const int64_t m = static_cast<int64_t>(im.items.size());
        auto dW = new_array<T>({m, h});
        auto db = new_array<T>({h});
        T *dw = dW.mutable_data(), *dbp = db.mutable_data();
        nogil([&] {
            sparse_encoder_backward<T, I>(X, im, dz, dp, h, dropout, seed, step, row_offset, dw, dbp, n_threads);
        });
        return py::make_tuple(to_numpy(im.items), dW, db);
    });
}

// ---- masked_decoder ---------------------------------------------------------------------------

py::array masked_decoder_forward_py(py::array indptr, py::array indices, int64_t n_cols, py::array H, py::array V,
                                    py::object c, int n_threads) {
    return with_csr_kernel(n_threads, H, "H", indices, [&](auto t, auto i) -> py::array {
        using T = decltype(t);
        using I = decltype(i);
        const auto M = csr_arg<T, I>(indptr, indices, nullptr, n_cols, "mask");
        check_ndim(H, "H", 2, "(n_rows, n_hidden)");
        const int64_t h = H.shape(1);
        const T* hp = in_ptr<T>(H, "H", {M.n_rows, h});
        const T* vp = in_ptr<T>(V, "V", {n_cols, h});
        const T* cp = opt_in_ptr<T>(c, "c", {n_cols});
        return run_into_new<T>({static_cast<int64_t>(indices.shape(0))},
                               [&](T* o) { masked_decoder_forward<T, I>(M, hp, vp, cp, h, o, n_threads); });
    });
}

py::tuple masked_decoder_backward_py(py::array indptr, py::array indices, int64_t n_cols, py::array H, py::array V,
                                     py::array d_out, int n_threads) {
    return with_csr_kernel(n_threads, H, "H", indices, [&](auto t, auto i) -> py::tuple {
        using T = decltype(t);
        using I = decltype(i);
        const auto M = csr_arg<T, I>(indptr, indices, nullptr, n_cols, "mask");
        check_ndim(H, "H", 2, "(n_rows, n_hidden)");
        const int64_t h = H.shape(1);
        const T* hp = in_ptr<T>(H, "H", {M.n_rows, h});
        const T* vp = in_ptr<T>(V, "V", {n_cols, h});
        const T* dp = in_ptr<T>(d_out, "d_out", {static_cast<int64_t>(indices.shape(0))});
        const ItemMajor im = item_major(M);
        const int64_t m = static_cast<int64_t>(im.items.size());
        auto dH = new_array<T>({M.n_rows, h});
        auto dV = new_array<T>({m, h});
        auto dc = new_array<T>({m});
        T *dhp = dH.mutable_data(), *dvp = dV.mutable_data(), *dcp = dc.mutable_data();
        nogil([&] { masked_decoder_backward<T, I>(M, im, hp, vp, dp, h, dhp, dvp, dcp, n_threads); });
        return py::make_tuple(dH, to_numpy(im.items), dV, dc);
    });
}

// ---- losses -----------------------------------------------------------------------------------

py::tuple masked_mse_py(py::array pred, py::array target, double scale, int n_threads) {
    return with_float_kernel(n_threads, pred, "pred", [&](auto t) -> py::tuple {
        using T = decltype(t);
        check_ndim(pred, "pred", 1);
        const int64_t n = pred.shape(0);
        const T* p = in_ptr<T>(pred, "pred", {n});
        const T* y = in_ptr<T>(target, "target", {n});
        double loss = 0.0;
        auto grad = run_into_new<T>({n}, [&](T* g) { loss = masked_mse<T>(p, y, n, scale, g, n_threads); });
        return py::make_tuple(loss, grad);
    });
}

double multinomial_loss_grad_py(py::array logits, py::object c, py::array indptr, py::array indices, py::array data,
                                double scale, int n_threads) {
    return with_csr_kernel(n_threads, logits, "logits", indices, [&](auto t, auto i) -> double {
        using T = decltype(t);
        using I = decltype(i);
        check_ndim(logits, "logits", 2, "(n_rows, n_items)");
        const int64_t n_cols = logits.shape(1);
        const auto X = csr_arg<T, I>(indptr, indices, &data, n_cols, "X");
        T* s = out_ptr<T>(logits, "logits", {X.n_rows, n_cols});
        const T* cp = opt_in_ptr<T>(c, "c", {n_cols});
        double loss = 0.0;
        nogil([&] { loss = multinomial_loss_grad<T, I>(s, cp, X, scale, n_threads); });
        return loss;
    });
}

py::tuple gaussian_kl_py(py::array mu, py::array logvar, double scale, int n_threads) {
    return with_float_kernel(n_threads, mu, "mu", [&](auto t) -> py::tuple {
        using T = decltype(t);
        check_ndim(mu, "mu", 2);
        const int64_t r = mu.shape(0), d = mu.shape(1);
        const T* m = in_ptr<T>(mu, "mu", {r, d});
        const T* lv = in_ptr<T>(logvar, "logvar", {r, d});
        auto dmu = new_array<T>({r, d});
        auto dlv = new_array<T>({r, d});
        T *dm = dmu.mutable_data(), *dl = dlv.mutable_data();
        double loss = 0.0;
        nogil([&] { loss = gaussian_kl<T>(m, lv, r * d, scale, dm, dl, n_threads); });
        return py::make_tuple(loss, dmu, dlv);
    });
}

// Optimiser arrays may have any shape; they are used flat, so they must agree in size. A reshape of
// a C-contiguous array is a view, so in-place updates reach the caller's array; anything else is
// refused rather than silently updating a copy.
py::array flat(py::array a, const char* name = "array") {
    check_c_aligned(a, name);
    return a.ndim() == 1 ? a : py::array(a.reshape({a.size()}));
}

// ---- activations: activation functions, dropout, random draws ----------------------------------

// An output array: a new one shaped like `like`, or `out` checked to match it and be writable.
template <class T>
py::array_t<T> output_like(const py::array& like, const py::object& out) {
    std::vector<py::ssize_t> shape(like.shape(), like.shape() + like.ndim());
    if (out.is_none()) return py::array_t<T>(shape);
    const py::array o = as_array(out, "out");  // borrowed: a converted copy would take the results away
    if (!has_dtype<T>(o)) fail_type("out: dtype does not match the input's");
    check_c_aligned(o, "out");
    if (!o.writeable()) fail_value("out: must be a writable C-contiguous array");
    if (o.ndim() != like.ndim() || !std::equal(shape.begin(), shape.end(), o.shape()))
        fail_value("out: shape " + shape_str(o) + " does not match the input's " + shape_str(like));
    return py::array_t<T>(o);
}

void check_kind(int kind) {
    if (kind < 0 || kind >= kNumActivations) fail_value("unknown activation code " + std::to_string(kind));
}

py::array activation_forward_py(int kind, double alpha, py::array Z, py::object out, int n_threads) {
    check_kind(kind);
    return with_float_kernel(n_threads, Z, "Z", [&](auto t) -> py::array {
        using T = decltype(t);
        check_c_aligned(Z, "Z");
        const T* z = static_cast<const T*>(Z.data());
        const int64_t n = Z.size();
        return run_into(output_like<T>(Z, out),
                        [&](T* y) { activation_forward<T>(kind, T(alpha), z, n, y, n_threads); });
    });
}

py::array activation_backward_py(int kind, double alpha, py::array Z, py::array Y, py::array dY, py::object out,
                                 int n_threads) {
    check_kind(kind);
    return with_float_kernel(n_threads, Z, "Z", [&](auto t) -> py::array {
        using T = decltype(t);
        std::vector<int64_t> s(Z.shape(), Z.shape() + Z.ndim());
        const int64_t n = Z.size();
        check_c_aligned(Z, "Z");
        for (const auto* p : {&Y, &dY})
            if (p->size() != n || p->ndim() != Z.ndim() || !std::equal(s.begin(), s.end(), p->shape()))
                fail_value("Y and dY must have the shape of Z " + shape_str(Z));
        const T* z = static_cast<const T*>(Z.data());
        const T* y = in_ptr<T>(flat(Y, "Y"), "Y", {n});
        const T* dy = in_ptr<T>(flat(dY, "dY"), "dY", {n});
        return run_into(output_like<T>(Z, out),
                        [&](T* dz) { activation_backward<T>(kind, T(alpha), z, y, dy, n, dz, n_threads); });
    });
}

py::array dropout_py(py::array X, double rate, uint64_t seed, uint64_t step, int64_t row_offset, py::object out,
                     int n_threads) {
    check_rate(rate, "rate");
    return with_float_kernel(n_threads, X, "X", [&](auto t) -> py::array {
        using T = decltype(t);
        check_ndim(X, "X", 2);
        const int64_t r = X.shape(0), c = X.shape(1);
        const T* x = in_ptr<T>(X, "X", {r, c});
        return run_into(output_like<T>(X, out),
                        [&](T* y) { dropout<T>(x, r, c, rate, seed, step, row_offset, y, n_threads); });
    });
}

template <bool Normal>
py::array random_py(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset,
                    const std::string& dtype, int n_threads) {
    check_threads(n_threads);
    if (n_rows < 0 || n_cols < 0) fail_value("n_rows and n_cols must be >= 0");
    return with_float_name(dtype, [&](auto t) -> py::array {
        using T = decltype(t);
        return run_into_new<T>({n_rows, n_cols}, [&](T* o) {
            if constexpr (Normal) random_normal<T>(n_rows, n_cols, seed, step, row_offset, o, n_threads);
            else random_uniform<T>(n_rows, n_cols, seed, step, row_offset, o, n_threads);
        });
    });
}

// ---- optim ------------------------------------------------------------------------------------

template <class T>
T* state_ptr(py::array& a, const char* name, int64_t n) {
    if (a.size() != n) fail_value(std::string(name) + ": size " + std::to_string(a.size()) +
                                  " does not match the parameter's " + std::to_string(n));
    return out_ptr<T>(a, name, {n});
}

void sgd_step_py(py::array param, py::array grad, py::object velocity, double lr, double momentum, bool nesterov,
                 double weight_decay, int n_threads) {
    with_float_kernel(n_threads, param, "param", [&](auto t) {
        using T = decltype(t);
        const int64_t n = param.size();
        py::array pf = flat(param, "param"), gf = flat(grad, "grad");
        T* p = state_ptr<T>(pf, "param", n);
        const T* g = in_ptr<T>(gf, "grad", {n});
        T* v = nullptr;
        py::array vf;
        if (!velocity.is_none()) {
            vf = flat(as_array(velocity, "velocity"), "velocity");
            v = state_ptr<T>(vf, "velocity", n);
        } else if (momentum != 0.0) {
            fail_value("velocity is required when momentum != 0");
        }
        nogil([&] { sgd_step<T>(p, g, v, n, lr, momentum, nesterov, weight_decay, n_threads); });
    });
}

void adam_step_py(py::array param, py::array grad, py::array m, py::array v, int64_t t_step, double lr, double beta1,
                  double beta2, double eps, double weight_decay, bool decoupled, int n_threads) {
    if (t_step < 1) fail_value("t (the step count) must be >= 1");
    with_float_kernel(n_threads, param, "param", [&](auto t) {
        using T = decltype(t);
        const int64_t n = param.size();
        py::array pf = flat(param, "param"), gf = flat(grad, "grad"), mf = flat(m, "m"), vf = flat(v, "v");
        T* p = state_ptr<T>(pf, "param", n);
        const T* g = in_ptr<T>(gf, "grad", {n});
        T* mp = state_ptr<T>(mf, "m", n);
        T* vp = state_ptr<T>(vf, "v", n);
        nogil([&] {
            adam_step<T>(p, g, mp, vp, n, t_step, lr, beta1, beta2, eps, weight_decay, decoupled, n_threads);
        });
    });
}

// slot[r] = position of row r in rows, or -1; every index checked in range and unique.
std::vector<int64_t> row_slots(const int64_t* r, int64_t n_present, int64_t n_rows) {
    std::vector<int64_t> slot(static_cast<size_t>(n_rows), -1);
    for (int64_t k = 0; k < n_present; ++k) {
        if (r[k] < 0 || r[k] >= n_rows)
            fail_value("rows: index " + std::to_string(r[k]) + " is out of range [0, " + std::to_string(n_rows) + ")");
        if (slot[r[k]] >= 0) fail_value("rows: index " + std::to_string(r[k]) + " appears twice");
        slot[r[k]] = k;
    }
    return slot;
}

// A row-compact gradient of an (n_rows, n_cols) parameter: the slots of `rows` and grad_rows' data.
template <class T>
std::pair<std::vector<int64_t>, const T*> row_grad(const py::array& rows, const py::array& grad_rows, int64_t n_rows,
                                                   int64_t n_cols) {
    if (rows.ndim() != 1) fail_value("rows: expected a 1-D array of row indices");
    const int64_t n_present = rows.shape(0);
    const int64_t* r = in_ptr<int64_t>(rows, "rows", {n_present});
    const T* g = in_ptr<T>(grad_rows, "grad_rows", {n_present, n_cols});
    return {row_slots(r, n_present, n_rows), g};
}

void sgd_step_rows_py(py::array param, py::array rows, py::array grad_rows, py::object velocity, double lr,
                      double momentum, bool nesterov, double weight_decay, int n_threads) {
    with_float_kernel(n_threads, param, "param", [&](auto t) {
        using T = decltype(t);
        check_ndim(param, "param", 2, "(n_rows, n_cols)");
        const int64_t n_rows = param.shape(0), n_cols = param.shape(1);
        T* p = out_ptr<T>(param, "param", {n_rows, n_cols});
        T* v = nullptr;
        py::array va;
        if (!velocity.is_none()) {
            va = as_array(velocity, "velocity");
            v = out_ptr<T>(va, "velocity", {n_rows, n_cols});
        } else if (momentum != 0.0) {
            fail_value("velocity is required when momentum != 0");
        }
        const auto [slot, g] = row_grad<T>(rows, grad_rows, n_rows, n_cols);
        nogil([&] {
            sgd_step_rows<T>(p, n_rows, n_cols, slot.data(), g, v, lr, momentum, nesterov, weight_decay, n_threads);
        });
    });
}

void adam_step_rows_py(py::array param, py::array rows, py::array grad_rows, py::array m, py::array v, int64_t t_step,
                       double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                       int n_threads) {
    if (t_step < 1) fail_value("t (the step count) must be >= 1");
    with_float_kernel(n_threads, param, "param", [&](auto t) {
        using T = decltype(t);
        check_ndim(param, "param", 2, "(n_rows, n_cols)");
        const int64_t n_rows = param.shape(0), n_cols = param.shape(1);
        T* p = out_ptr<T>(param, "param", {n_rows, n_cols});
        T* mp = out_ptr<T>(m, "m", {n_rows, n_cols});
        T* vp = out_ptr<T>(v, "v", {n_rows, n_cols});
        const auto [slot, g] = row_grad<T>(rows, grad_rows, n_rows, n_cols);
        nogil([&] {
            adam_step_rows<T>(p, n_rows, n_cols, slot.data(), g, mp, vp, t_step, lr, beta1, beta2, eps, weight_decay,
                              decoupled, n_threads);
        });
    });
}

void rprop_step_py(py::array param, py::array grad, py::array prev_grad, py::array step_size, double eta_minus,
                   double eta_plus, double step_min, double step_max, int n_threads) {
    with_float_kernel(n_threads, param, "param", [&](auto t) {
        using T = decltype(t);
        const int64_t n = param.size();
        py::array pf = flat(param, "param"), gf = flat(grad, "grad"), qf = flat(prev_grad, "prev_grad"),
                  sf = flat(step_size, "step_size");
        T* p = state_ptr<T>(pf, "param", n);
        const T* g = in_ptr<T>(gf, "grad", {n});
        T* q = state_ptr<T>(qf, "prev_grad", n);
        T* s = state_ptr<T>(sf, "step_size", n);
        nogil([&] { rprop_step<T>(p, g, q, s, n, eta_minus, eta_plus, step_min, step_max, n_threads); });
    });
}

// ---- topk -------------------------------------------------------------------------------------

// The ranking key keeps an item index in 32 bits (rank_key.h).
void check_item_count(int64_t n_items) {
    if (n_items > int64_t(0xFFFFFFFF))
        fail_value("at most 4,294,967,295 items per row can be ranked, got " + std::to_string(n_items));
}

// Strictly increasing item ids in [0, n_items), or nullptr for None (shared by topk and screened_topk).
const int64_t* candidates_arg(const py::object& candidates, int64_t n_items, int64_t& n_cand) {
    n_cand = 0;
    if (candidates.is_none()) return nullptr;
    const py::array ca = as_array(candidates, "candidates");  // borrowed: the caller's array outlives this call
    if (ca.ndim() != 1) fail_value("candidates: expected a 1-D array");
    n_cand = ca.shape(0);
    const int64_t* cand = in_ptr<int64_t>(ca, "candidates", {n_cand});
    for (int64_t t = 0; t < n_cand; ++t) {
        if (cand[t] < 0 || cand[t] >= n_items)
            fail_value("candidates: item " + std::to_string(cand[t]) + " is out of range [0, " +
                       std::to_string(n_items) + ")");
        if (t > 0 && cand[t] <= cand[t - 1]) fail_value("candidates: must be strictly increasing");
    }
    return cand;
}

// Calls fn(indptr, indices) with the validated exclusion CSR (n_rows, n_items), or (nullptr, nullptr)
// typed int32 when there is none.
template <class Fn>
void with_exclusion(const py::object& excl_indptr, const py::object& excl_indices, int64_t n_rows, int64_t n_items,
                    Fn&& fn) {
    if (excl_indptr.is_none() != excl_indices.is_none())
        fail_value("exclude: indptr and indices must be given together");
    if (excl_indptr.is_none()) {
        fn(static_cast<const int32_t*>(nullptr), static_cast<const int32_t*>(nullptr));
        return;
    }
    py::array eip(excl_indptr), eix(excl_indices);
    with_index_type(eix, "exclude.indices", [&](auto i) {
        using I = decltype(i);
        const auto E = csr_arg<float, I>(eip, eix, nullptr, n_items, "exclude");  // a pattern: no values
        if (E.n_rows != n_rows)
            fail_value("exclude: has " + std::to_string(E.n_rows) + " rows but scores has " + std::to_string(n_rows));
        fn(E.indptr, E.indices);
    });
}


// (indices, scores), each (n_rows, k): run(excl indptr, excl indices, index out, score out) fills them
// without the GIL, the exclusion CSR validated by with_exclusion.
template <class T, class Run>
py::tuple ranked(const py::object& excl_indptr, const py::object& excl_indices, int64_t n_rows, int64_t n_items,
                 int64_t k, Run&& run) {
    auto idx = new_array<int64_t>({n_rows, k});
    auto val = new_array<T>({n_rows, k});
    int64_t* ip = idx.mutable_data();
    T* vp = val.mutable_data();
    with_exclusion(excl_indptr, excl_indices, n_rows, n_items, [&](auto a, auto b) { nogil([&] { run(a, b, ip, vp); }); });
    return py::make_tuple(idx, val);
}

py::tuple topk_py(py::array scores, int64_t k, py::object excl_indptr, py::object excl_indices, py::object candidates,
                  int n_threads) {
    if (k < 1) fail_value("k must be >= 1, got " + std::to_string(k));
    return with_float_kernel(n_threads, scores, "scores", [&](auto t) -> py::tuple {
        using T = decltype(t);
        check_ndim(scores, "scores", 2, "(n_rows, n_items)");
        const int64_t n_rows = scores.shape(0), n_items = scores.shape(1);
        const T* s = in_ptr<T>(scores, "scores", {n_rows, n_items});
        check_item_count(n_items);
        int64_t n_cand = 0;
        const int64_t* cand = candidates_arg(candidates, n_items, n_cand);
        return ranked<T>(excl_indptr, excl_indices, n_rows, n_items, k, [&](auto a, auto b, int64_t* ip, T* vp) {
            using I = std::remove_const_t<std::remove_pointer_t<decltype(a)>>;
            topk<T, I>(s, n_rows, n_items, k, a, b, cand, n_cand, ip, vp, n_threads);
        });
    });
}

// ---- gram: sparse Gram --------------------------------------------------------------------------

py::array sparse_gram_py(py::array indptr, py::array indices, py::array data, int64_t n_cols, int n_threads) {
    return with_csr_kernel(n_threads, data, "X.data", indices, [&](auto t, auto i) -> py::array {
        using T = decltype(t);
        using I = decltype(i);
        const auto X = csr_arg<T, I>(indptr, indices, &data, n_cols, "X");
        return run_into_new<T>({n_cols, n_cols}, [&](T* g) {
            const ItemMajor im = build_item_major<I>(X.indptr, X.indices, X.n_rows, n_cols);
            // Expand the compact item-major view to every column (absent items: empty ranges).
            std::vector<int64_t> ptr(static_cast<size_t>(n_cols) + 1, 0);
            for (size_t p = 0; p < im.items.size(); ++p) ptr[im.items[p] + 1] = im.ptr[p + 1] - im.ptr[p];
            for (int64_t j = 0; j < n_cols; ++j) ptr[j + 1] += ptr[j];
            sparse_gram<T, I>(X, ptr.data(), im.rows.data(), im.pos.data(), g, n_threads);
        });
    });
}

// ---- gemm_bf16: bfloat16 scoring GEMM -----------------------------------------------------------

py::array bf16_round_py(py::array A, int n_threads) {
    check_threads(n_threads);
    if (!has_dtype<float>(A)) fail_type("A: expected float32, got " + std::string(py::str(A.dtype())));
    check_c_aligned(A, "A");
    const int64_t n = A.size();
    const float* a = static_cast<const float*>(A.data());
    py::array_t<float> out(std::vector<py::ssize_t>(A.shape(), A.shape() + A.ndim()));
    return run_into(out, [&](float* o) { bf16_round(a, n, o, n_threads); });
}

py::array pack_bf16_py(py::array B, int n_threads) {
    check_threads(n_threads);
    if (!has_dtype<float>(B)) fail_type("B: expected float32, got " + std::string(py::str(B.dtype())));
    check_ndim(B, "B", 2, "(K, N)");
    const int64_t K = B.shape(0), N = B.shape(1);
    const float* b = in_ptr<float>(B, "B", {K, N});
    return run_into_new<uint16_t>({bf16_pad_k(K) * bf16_pad_n(N)},
                                  [&](uint16_t* p) { pack_bf16(b, K, N, p, n_threads); });
}

py::array gemm_bf16_py(py::array A, py::array packed, int64_t N, py::object bias, int n_threads) {
    check_threads(n_threads);
    if (!amx_bf16_available()) fail_value("gemm_bf16: AMX-BF16 is not available on this CPU/OS");
    if (!has_dtype<float>(A)) fail_type("A: expected float32, got " + std::string(py::str(A.dtype())));
    check_ndim(A, "A", 2, "(M, K)");
    if (N < 1) fail_value("N must be >= 1, got " + std::to_string(N));
    const int64_t M = A.shape(0), K = A.shape(1);
    const float* a = in_ptr<float>(A, "A", {M, K});
    if (!has_dtype<uint16_t>(packed)) fail_type("packed: expected the uint16 array from pack_bf16");
    // bf16_pad_k(K) * bf16_pad_n(N) elements, computed without overflow (N comes from the caller)
    if (N > std::numeric_limits<int64_t>::max() - 16 ||
        (K > 0 && bf16_pad_n(N) > std::numeric_limits<int64_t>::max() / bf16_pad_k(K)))
        fail_value("N = " + std::to_string(N) + " is too large");
    const uint16_t* p = in_ptr<uint16_t>(packed, "packed (pack_bf16 of a K x N matrix)", {bf16_pad_k(K) * bf16_pad_n(N)});
    const float* bp = opt_in_ptr<float>(bias, "bias", {N});
    return run_into_new<float>({M, N}, [&](float* o) { gemm_bf16_amx(a, M, K, p, N, bp, o, n_threads); });
}

// ---- gemm_f32: the float32 training GEMM --------------------------------------------------------

// A float32 matrix view: element strides (any sign) and the byte range it spans, for the overlap check.
struct MatView {
    int64_t rows, cols, rs, cs;
    const char *lo, *hi;  // [lo, hi) covers every element
};

MatView mat_view(const py::array& a, const char* name) {
    if (!has_dtype<float>(a)) fail_type(std::string(name) + ": expected float32, got " + std::string(py::str(a.dtype())));
    check_ndim(a, name, 2);
    check_aligned(a, name);  // also makes every stride a whole number of elements
    const int64_t st[2] = {a.strides(0), a.strides(1)};
    MatView v{a.shape(0), a.shape(1), st[0] / int64_t(sizeof(float)), st[1] / int64_t(sizeof(float)), nullptr,
              nullptr};
    const char* p = static_cast<const char*>(a.data());
    v.lo = v.hi = p;
    if (v.rows > 0 && v.cols > 0) {
        int64_t lo = 0, hi = 0;
        for (int d = 0; d < 2; ++d) {
            const int64_t span = (a.shape(d) - 1) * st[d];
            (span < 0 ? lo : hi) += span;
        }
        v.lo = p + lo;
        v.hi = p + hi + int64_t(sizeof(float));
    }
    return v;
}

bool overlaps(const MatView& x, const MatView& y) { return x.lo < y.hi && y.lo < x.hi; }

void gemm_f32_py(py::array A, py::array B, py::array out, bool accumulate, int n_threads) {
    check_threads(n_threads);
    const MatView a = mat_view(A, "A"), b = mat_view(B, "B"), c = mat_view(out, "out");
    if (a.cols != b.rows)
        fail_value("gemm_f32: A " + shape_str(A) + " and B " + shape_str(B) + " do not chain (A's columns != B's rows)");
    if (c.rows != a.rows || c.cols != b.cols)
        fail_value("out: shape " + shape_str(out) + " is not (" + std::to_string(a.rows) + ", " +
                   std::to_string(b.cols) + ")");
    if (!out.writeable()) fail_value("out: array is read-only but is written in place");
    if (c.rows == 0 || c.cols == 0) return;  // nothing to write (NumPy gives empty arrays any strides)
    if (c.cols > 1 && c.cs != 1) fail_value("out: its rows must be contiguous (column stride of one element)");
    if (c.rows > 1 && c.rs < c.cols) fail_value("out: rows must not overlap (row stride >= number of columns)");
    if (overlaps(c, a) || overlaps(c, b)) fail_value("out must not share memory with A or B");
    float* o = static_cast<float*>(out.mutable_data());
    const float* ap = static_cast<const float*>(A.data());
    const float* bp = static_cast<const float*>(B.data());
    nogil([&] { gemm_f32(a.rows, b.cols, a.cols, ap, a.rs, a.cs, bp, b.rs, b.cs, o, c.rs, accumulate, n_threads); });
}

// ---- screened_topk: exact top-k screened in bfloat16 --------------------------------------------

// Wt = Bᵀ (N, K) and its WeightNorms: what screened_topk rescores and bounds from.
py::tuple screened_prepare_py(py::array B, int n_threads) {
    check_threads(n_threads);
    if (!has_dtype<float>(B)) fail_type("B: expected float32, got " + std::string(py::str(B.dtype())));
    check_ndim(B, "B", 2, "(K, N)");
    const int64_t K = B.shape(0), N = B.shape(1);
    const float* b = in_ptr<float>(B, "B", {K, N});
    auto Wt = new_array<float>({N, K});
    float* w = Wt.mutable_data();
    WeightNorms wn{};
    nogil([&] {
        transpose_rows(b, K, N, w, n_threads);
        wn = screened_norms(w, N, K, n_threads);
    });
    return py::make_tuple(Wt, py::make_tuple(wn.norm, wn.rounded, wn.residual));
}

py::tuple screened_topk_py(py::array screen, py::array A, py::array Wt, py::object bias, py::tuple norms, int64_t k,
                           py::object excl_indptr, py::object excl_indices, py::object candidates, int n_threads) {
    check_threads(n_threads);
    if (k < 1) fail_value("k must be >= 1, got " + std::to_string(k));
    for (auto* p : {&screen, &A, &Wt})
        if (!has_dtype<float>(*p)) fail_type("screened_topk: screen, A and Wt must be float32");
    if (screen.ndim() != 2 || A.ndim() != 2 || Wt.ndim() != 2)
        fail_value("screened_topk: screen (M, N), A (M, K) and Wt (N, K) must be 2-D");
    const int64_t M = A.shape(0), K = A.shape(1), N = Wt.shape(0);
    check_item_count(N);
    const float* s = in_ptr<float>(screen, "screen", {M, N});
    const float* a = in_ptr<float>(A, "A", {M, K});
    const float* w = in_ptr<float>(Wt, "Wt", {N, K});
    const float* bp = opt_in_ptr<float>(bias, "bias", {N});
    if (norms.size() != 3) fail_value("norms: expected the 3 values of screened_prepare(B)");
    const WeightNorms wn{norms[0].cast<double>(), norms[1].cast<double>(), norms[2].cast<double>()};
    int64_t n_cand = 0;
    const int64_t* cand = candidates_arg(candidates, N, n_cand);
    return ranked<float>(excl_indptr, excl_indices, M, N, k, [&](auto ea, auto eb, int64_t* ip, float* vp) {
        using I = std::remove_const_t<std::remove_pointer_t<decltype(ea)>>;
        screened_topk<I>(s, a, M, K, w, N, bp, wn, k, ea, eb, cand, n_cand, ip, vp, n_threads);
    });
}

py::dict build_info() {
    py::dict d;
    d["version"] = AEREC_VERSION;
    d["isa"] = AEREC_ISA_NAME;
    d["openmp"] = openmp_enabled();
    d["openmp_max_threads"] = openmp_max_threads();
#if defined(__VERSION__)
    d["compiler"] = __VERSION__;
#endif
#if defined(__SANITIZE_ADDRESS__)
    d["sanitizers"] = true;
#else
    d["sanitizers"] = false;
#endif
    return d;
}

}  // namespace

PYBIND11_MODULE(AEREC_MODULE_NAME, m) {
    m.doc() = "aerec CPU kernels (" AEREC_ISA_NAME "); use the validated wrappers in aerec.kernels.";
    using py::arg;
    const auto none = py::none();
    m.def("build_info", &build_info);
    m.def("sparse_encoder_forward", &sparse_encoder_forward_py, arg("indptr"), arg("indices"), arg("data"),
          arg("n_cols"), arg("W"), arg("b"), arg("row_scale"), arg("dropout"), arg("seed"), arg("step"),
          arg("row_offset"), arg("n_threads"));
    m.def("sparse_encoder_backward", &sparse_encoder_backward_py, arg("indptr"), arg("indices"), arg("data"),
          arg("n_cols"), arg("dZ"), arg("row_scale"), arg("dropout"), arg("seed"), arg("step"), arg("row_offset"),
          arg("n_threads"));
    m.def("masked_decoder_forward", &masked_decoder_forward_py, arg("indptr"), arg("indices"), arg("n_cols"),
          arg("H"), arg("V"), arg("c"), arg("n_threads"));
    m.def("masked_decoder_backward", &masked_decoder_backward_py, arg("indptr"), arg("indices"), arg("n_cols"),
          arg("H"), arg("V"), arg("d_out"), arg("n_threads"));
    m.def("masked_mse", &masked_mse_py, arg("pred"), arg("target"), arg("scale"), arg("n_threads"));
    m.def("multinomial_loss_grad", &multinomial_loss_grad_py, arg("logits"), arg("c"), arg("indptr"), arg("indices"),
          arg("data"), arg("scale"), arg("n_threads"));
    m.def("gaussian_kl", &gaussian_kl_py, arg("mu"), arg("logvar"), arg("scale"), arg("n_threads"));
    m.def("activation_forward", &activation_forward_py, arg("kind"), arg("alpha"), arg("Z"), arg("out") = none,
          arg("n_threads") = 1);
    m.def("activation_backward", &activation_backward_py, arg("kind"), arg("alpha"), arg("Z"), arg("Y"), arg("dY"),
          arg("out") = none, arg("n_threads") = 1);
    m.def("dropout", &dropout_py, arg("X"), arg("rate"), arg("seed"), arg("step"), arg("row_offset"),
          arg("out") = none, arg("n_threads") = 1);
    m.def("random_uniform", &random_py<false>, arg("n_rows"), arg("n_cols"), arg("seed"), arg("step"),
          arg("row_offset"), arg("dtype"), arg("n_threads"));
    m.def("random_normal", &random_py<true>, arg("n_rows"), arg("n_cols"), arg("seed"), arg("step"),
          arg("row_offset"), arg("dtype"), arg("n_threads"));
    m.def("sgd_step", &sgd_step_py, arg("param"), arg("grad"), arg("velocity"), arg("lr"), arg("momentum"),
          arg("nesterov"), arg("weight_decay"), arg("n_threads"));
    m.def("sgd_step_rows", &sgd_step_rows_py, arg("param"), arg("rows"), arg("grad_rows"), arg("velocity"), arg("lr"),
          arg("momentum"), arg("nesterov"), arg("weight_decay"), arg("n_threads"));
    m.def("adam_step", &adam_step_py, arg("param"), arg("grad"), arg("m"), arg("v"), arg("t"), arg("lr"),
          arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay"), arg("decoupled"), arg("n_threads"));
    m.def("adam_step_rows", &adam_step_rows_py, arg("param"), arg("rows"), arg("grad_rows"), arg("m"), arg("v"),
          arg("t"), arg("lr"), arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay"), arg("decoupled"),
          arg("n_threads"));
    m.def("rprop_step", &rprop_step_py, arg("param"), arg("grad"), arg("prev_grad"), arg("step_size"),
          arg("eta_minus"), arg("eta_plus"), arg("step_min"), arg("step_max"), arg("n_threads"));
    m.def("sparse_gram", &sparse_gram_py, arg("indptr"), arg("indices"), arg("data"), arg("n_cols"), arg("n_threads"));
    m.def("amx_bf16_available", &amx_bf16_available);
    m.def("bf16_round", &bf16_round_py, arg("A"), arg("n_threads"));
    m.def("pack_bf16", &pack_bf16_py, arg("B"), arg("n_threads"));
    m.def("gemm_bf16", &gemm_bf16_py, arg("A"), arg("packed"), arg("N"), arg("bias"), arg("n_threads"));
    m.def("gemm_f32", &gemm_f32_py, arg("A"), arg("B"), arg("out"), arg("accumulate"), arg("n_threads"));
    m.def("gemm_f32_tile", [] { return py::make_tuple(gemm_f32_mr(), gemm_f32_nr(), gemm_f32_kc()); });
    m.def("topk", &topk_py, arg("scores"), arg("k"), arg("excl_indptr"), arg("excl_indices"), arg("candidates"),
          arg("n_threads"));
    m.def("screened_prepare", &screened_prepare_py, arg("B"), arg("n_threads"));
    m.def("screened_topk", &screened_topk_py, arg("screen"), arg("A"), arg("Wt"), arg("bias"), arg("norms"),
          arg("k"), arg("excl_indptr"), arg("excl_indices"), arg("candidates"), arg("n_threads"));
}

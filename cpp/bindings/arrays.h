// aerec — argument checks and prologues for the bindings: dtype, C-contiguity, shape, writability and
// CSR structure, plus the few helpers every binding is built from (dtype dispatch, the n_threads
// check, outputs filled with the GIL released). Every check raises TypeError/ValueError naming the
// argument; nothing is copied or converted silently. This is the last line of defence: the Python
// layer (aerec._validation) checks first with friendlier messages, but the C++ never trusts an index
// it has not seen in range.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aerec/common.h"

namespace aerec {
namespace py = pybind11;

[[noreturn]] inline void fail_value(const std::string& msg) { throw py::value_error(msg); }
[[noreturn]] inline void fail_type(const std::string& msg) { throw py::type_error(msg); }

template <class T>
constexpr const char* dtype_name() {
    if constexpr (std::is_same_v<T, float>) return "float32";
    else if constexpr (std::is_same_v<T, double>) return "float64";
    else if constexpr (std::is_same_v<T, int32_t>) return "int32";
    else if constexpr (std::is_same_v<T, uint16_t>) return "uint16";
    else return "int64";
}

template <class T>
bool has_dtype(const py::array& a) {
    return py::isinstance<py::array_t<T>>(a);
}

inline std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

// a has `ndim` dimensions; `layout` names them in the message, e.g. "(n_rows, n_hidden)".
inline void check_ndim(const py::array& a, const char* name, int ndim, const char* layout = nullptr) {
    if (a.ndim() != ndim)
        fail_value(std::string(name) + ": expected a " + std::to_string(ndim) + "-D " +
                   (layout ? std::string(layout) + " " : std::string()) + "array, got shape " + shape_str(a));
}

// C order, and data aligned to the dtype: np.frombuffer at an odd offset gives a C-contiguous array whose
// elements cannot be read through a T* (undefined behaviour).
// NumPy's ALIGNED flag covers the data pointer and every stride.
inline void check_aligned(const py::array& a, const std::string& name) {
    if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        fail_value(name + ": data is not aligned to its dtype (copy it, e.g. np.array(a))");
}

inline void check_c_aligned(const py::array& a, const std::string& name) {
    if (!(a.flags() & py::array::c_style)) fail_value(name + ": array must be C-contiguous");
    check_aligned(a, name);
}

// Checks dtype T, C order, alignment and shape (−1 = any extent); returns the data pointer.
template <class T>
const T* in_ptr(const py::array& a, const char* name, std::initializer_list<int64_t> shape) {
    if (!has_dtype<T>(a))
        fail_type(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                  std::string(py::str(a.dtype())));
    check_c_aligned(a, name);
    if (static_cast<size_t>(a.ndim()) != shape.size())
        fail_value(std::string(name) + ": expected " + std::to_string(shape.size()) + " dimensions, got shape " +
                   shape_str(a));
    size_t d = 0;
    for (int64_t s : shape) {
        if (s >= 0 && a.shape(static_cast<py::ssize_t>(d)) != s)
            fail_value(std::string(name) + ": shape " + shape_str(a) + " does not match the expected extent " +
                       std::to_string(s) + " in dimension " + std::to_string(d));
        ++d;
    }
    return static_cast<const T*>(a.data());
}

template <class T>
T* out_ptr(py::array& a, const char* name, std::initializer_list<int64_t> shape) {
    const T* p = in_ptr<T>(a, name, shape);
    if (!a.writeable()) fail_value(std::string(name) + ": array is read-only but is written in place");
    return const_cast<T*>(p);
}

// An optional argument that must already be a NumPy array: borrowed, never converted. A converted
// copy (say of a list) would be a temporary — freed before the kernel reads it, or updated in place
// and thrown away.
inline py::array as_array(const py::object& o, const char* name) {
    if (!py::isinstance<py::array>(o))
        fail_type(std::string(name) + ": expected a NumPy array, got " +
                  std::string(py::str(py::type::handle_of(o).attr("__name__"))));
    return py::reinterpret_borrow<py::array>(o);
}

template <class T>
const T* opt_in_ptr(const py::object& o, const char* name, std::initializer_list<int64_t> shape) {
    if (o.is_none()) return nullptr;
    return in_ptr<T>(as_array(o, name), name, shape);  // o (the caller's argument) keeps the data alive
}

template <class T>
py::array_t<T> new_array(std::initializer_list<int64_t> shape) {
    std::vector<py::ssize_t> s(shape.begin(), shape.end());
    return py::array_t<T>(s);
}

// Calls fn(T{}) with T the floating dtype of `a` (float32 or float64).
template <class Fn>
decltype(auto) with_float_type(const py::array& a, const char* name, Fn&& fn) {
    if (has_dtype<float>(a)) return fn(float{});
    if (has_dtype<double>(a)) return fn(double{});
    fail_type(std::string(name) + ": expected dtype float32 or float64, got " + std::string(py::str(a.dtype())));
}

// Calls fn(I{}) with I the index dtype of `a` (int32 or int64).
template <class Fn>
decltype(auto) with_index_type(const py::array& a, const char* name, Fn&& fn) {
    if (has_dtype<int32_t>(a)) return fn(int32_t{});
    if (has_dtype<int64_t>(a)) return fn(int64_t{});
    fail_type(std::string(name) + ": expected dtype int32 or int64, got " + std::string(py::str(a.dtype())));
}

// Validates a CSR structure with n_cols columns: indptr starts at 0, never decreases and ends at
// nnz; every index lies in [0, n_cols) and indices strictly increase within a row (canonical
// scipy format: sorted, no duplicates). Returns n_rows.
template <class I>
int64_t check_csr(const py::array& indptr, const py::array& indices, int64_t n_cols, const char* what) {
    const std::string w(what);
    if (n_cols < 0) fail_value(w + ": the number of columns must be >= 0");
    if (indptr.ndim() != 1 || indptr.shape(0) < 1) fail_value(w + ": indptr must be 1-D with at least one entry");
    const I* ip = in_ptr<I>(indptr, (w + ".indptr").c_str(), {-1});
    const I* ix = in_ptr<I>(indices, (w + ".indices").c_str(), {-1});
    const int64_t n_rows = indptr.shape(0) - 1, nnz = indices.shape(0);
    if (ip[0] != 0) fail_value(w + ": indptr[0] must be 0, got " + std::to_string(ip[0]));
    if (static_cast<int64_t>(ip[n_rows]) != nnz)
        fail_value(w + ": indptr[-1] = " + std::to_string(ip[n_rows]) + " does not equal nnz = " + std::to_string(nnz));
    // indptr completely first: only then is every indices[indptr[r]:indptr[r+1]] known to be in bounds.
    for (int64_t r = 0; r < n_rows; ++r)
        if (ip[r + 1] < ip[r]) fail_value(w + ": indptr decreases at row " + std::to_string(r));
    for (int64_t r = 0; r < n_rows; ++r) {
        const int64_t a = ip[r], b = ip[r + 1];
        for (int64_t k = a; k < b; ++k) {
            const int64_t j = ix[k];
            if (j < 0 || j >= n_cols)
                fail_value(w + ": column index " + std::to_string(j) + " in row " + std::to_string(r) +
                           " is out of range [0, " + std::to_string(n_cols) + ")");
            if (k > a && j <= static_cast<int64_t>(ix[k - 1]))
                fail_value(w + ": column indices in row " + std::to_string(r) +
                           " are unsorted or duplicated (canonical CSR is required)");
        }
    }
    return n_rows;
}

inline void check_threads(int n_threads) {
    if (n_threads < 1) fail_value("n_threads must be >= 1, got " + std::to_string(n_threads));
}

inline void check_rate(double rate, const char* name) {
    if (!(rate >= 0.0 && rate < 1.0)) fail_value(std::string(name) + " must be in [0, 1), got " + std::to_string(rate));
}

// ---- binding prologues ----------------------------------------------------------------------------
// A binding checks its scalar arguments, then enters one of these: n_threads is checked first, then
// the dtypes are dispatched, and fn checks the arrays and calls the kernel.

// fn(T{}) with T the floating dtype of `a`.
template <class Fn>
decltype(auto) with_float_kernel(int n_threads, const py::array& a, const char* name, Fn&& fn) {
    check_threads(n_threads);
    return with_float_type(a, name, std::forward<Fn>(fn));
}

// fn(T{}, I{}) for a kernel over a CSR matrix: T the floating dtype of `values` (checked first), I the
// index dtype of `indices`. fn then validates the matrix with csr_arg<T, I>.
template <class Fn>
decltype(auto) with_csr_kernel(int n_threads, const py::array& values, const char* values_name,
                               const py::array& indices, Fn&& fn) {
    check_threads(n_threads);
    return with_float_type(values, values_name, [&](auto t) -> decltype(auto) {
        return with_index_type(indices, "indices", [&](auto i) -> decltype(auto) { return fn(t, i); });
    });
}

// The CSR matrix `what` with n_cols columns, validated by check_csr before any index is used, and its
// nnz values of T (what.data) when data is given; without data, a pattern-only view (a mask).
template <class T, class I>
Csr<I, T> csr_arg(const py::array& indptr, const py::array& indices, const py::array* data, int64_t n_cols,
                  const char* what) {
    const int64_t n_rows = check_csr<I>(indptr, indices, n_cols, what);
    const T* x = data ? in_ptr<T>(*data, (std::string(what) + ".data").c_str(), {indices.shape(0)}) : nullptr;
    return Csr<I, T>{static_cast<const I*>(indptr.data()), static_cast<const I*>(indices.data()), x, n_rows, n_cols};
}

// Dtypes given by name (the CUDA module's arguments, the CPU random draws): fn(T{}) for "float32" or
// "float64"; fn(T{}, I{}) adds "int32" or "int64" for index_dtype, checked after dtype.
template <class Fn>
decltype(auto) with_float_name(const std::string& dtype, Fn&& fn) {
    if (dtype == "float32") return fn(float{});
    if (dtype == "float64") return fn(double{});
    fail_type("dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

template <class Fn>
decltype(auto) with_csr_names(const std::string& dtype, const std::string& index_dtype, Fn&& fn) {
    return with_float_name(dtype, [&](auto t) -> decltype(auto) {
        if (index_dtype == "int32") return fn(t, int32_t{});
        if (index_dtype == "int64") return fn(t, int64_t{});
        fail_type("index_dtype must be 'int32' or 'int64', got '" + index_dtype + "'");
    });
}

// Runs f with the GIL released and re-acquires it before returning, so no Python object is ever
// created, copied or destroyed without the GIL (returns happen after nogil() has finished).
template <class F>
void nogil(F&& f) {
    py::gil_scoped_release release;
    f();
}

// The output `out` (allocated or checked by the caller, with the GIL) filled by fill(out's data)
// without the GIL; returns out.
template <class T, class Fill>
py::array_t<T> run_into(py::array_t<T> out, Fill&& fill) {
    T* o = out.mutable_data();
    nogil([&] { fill(o); });
    return out;
}

// A new output of `shape`, filled by fill(data) without the GIL.
template <class T, class Fill>
py::array_t<T> run_into_new(std::initializer_list<int64_t> shape, Fill&& fill) {
    return run_into(new_array<T>(shape), std::forward<Fill>(fill));
}

}  // namespace aerec

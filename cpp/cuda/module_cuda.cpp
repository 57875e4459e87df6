// aerec — the CUDA extension module (_aerec_cuda). Kernels take device pointers as integers (from
// a GPU array library such as CuPy: `arr.data.ptr`) plus sizes, and a stream handle; memory and
// GEMMs stay with that library. Same family and function names as the CPU module.
#include <pybind11/pybind11.h>

#include <cuda_runtime.h>

#include <string>

#include "activations.h"
#include "aerec/elementwise.h"

#ifndef AEREC_VERSION
#define AEREC_VERSION "0.0.0"
#endif

namespace py = pybind11;

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

template <class T>
T* dptr(uintptr_t p) {
    return reinterpret_cast<T*>(p);
}

void check_args(int kind, int64_t n) {
    if (kind < 0 || kind >= aerec::kNumActivations) throw py::value_error("unknown activation code");
    if (n < 0) throw py::value_error("n must be >= 0");
}

void activation_forward(int kind, double alpha, uintptr_t Z, int64_t n, uintptr_t Y, const std::string& dtype,
                        uintptr_t stream) {
    check_args(kind, n);
    auto s = reinterpret_cast<cudaStream_t>(stream);
    py::gil_scoped_release release;
    if (dtype == "float32")
        check(aerec::cuda::activation_forward<float>(kind, float(alpha), dptr<float>(Z), n, dptr<float>(Y), s),
              "activation_forward");
    else
        check(aerec::cuda::activation_forward<double>(kind, alpha, dptr<double>(Z), n, dptr<double>(Y), s),
              "activation_forward");
}

void activation_backward(int kind, double alpha, uintptr_t Z, uintptr_t Y, uintptr_t dY, int64_t n, uintptr_t dZ,
                         const std::string& dtype, uintptr_t stream) {
    check_args(kind, n);
    auto s = reinterpret_cast<cudaStream_t>(stream);
    py::gil_scoped_release release;
    if (dtype == "float32")
        check(aerec::cuda::activation_backward<float>(kind, float(alpha), dptr<float>(Z), dptr<float>(Y),
                                                      dptr<float>(dY), n, dptr<float>(dZ), s),
              "activation_backward");
    else
        check(aerec::cuda::activation_backward<double>(kind, alpha, dptr<double>(Z), dptr<double>(Y), dptr<double>(dY),
                                                       n, dptr<double>(dZ), s),
              "activation_backward");
}

void dropout(uintptr_t X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
             int64_t row_offset, uintptr_t Y, const std::string& dtype, uintptr_t stream) {
    if (!(rate >= 0.0 && rate < 1.0)) throw py::value_error("rate must be in [0, 1)");
    if (n_rows < 0 || n_cols < 0) throw py::value_error("n_rows and n_cols must be >= 0");
    auto s = reinterpret_cast<cudaStream_t>(stream);
    py::gil_scoped_release release;
    if (dtype == "float32")
        check(aerec::cuda::dropout<float>(dptr<float>(X), n_rows, n_cols, rate, seed, step, row_offset, dptr<float>(Y), s),
              "dropout");
    else
        check(aerec::cuda::dropout<double>(dptr<double>(X), n_rows, n_cols, rate, seed, step, row_offset,
                                           dptr<double>(Y), s),
              "dropout");
}

}  // namespace

PYBIND11_MODULE(_aerec_cuda, m) {
    m.doc() = "aerec CUDA kernels (device pointers in, same family names as the CPU module)";
    m.def("device_count", &device_count);
    m.def("build_info", [] {
        py::dict d;
        d["version"] = AEREC_VERSION;
        int rt = 0;
        cudaRuntimeGetVersion(&rt);
        d["cuda_runtime"] = rt;
        return d;
    });
    m.def("activation_forward", &activation_forward);
    m.def("activation_backward", &activation_backward);
    m.def("dropout", &dropout);
}

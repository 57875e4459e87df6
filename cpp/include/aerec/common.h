// aerec — shared definitions for every kernel family.
//
// Kernels are templates over the value type T (float, double) and the index type I (int32_t,
// int64_t). They see only raw pointers and sizes: every Python-facing check (dtype, shape, CSR
// validity, index range) happens in the bindings before a kernel runs, so a kernel may assume
// its inputs are in range. Shapes are documented next to each pointer argument.
#pragma once

#include <cstddef>
#include <cstdint>

// Per-element maths shared by the CPU and CUDA builds (extending-jax's kepler.h pattern).
#if defined(__CUDACC__)
#define AEREC_HD __host__ __device__ inline
#else
#define AEREC_HD inline
#endif

// The kernels of src/ are compiled once per instruction set (see isa.h); each copy lives in its own
// namespace so the three copies link side by side. AEREC_ISA_NS is set by CMake per object library.
#ifndef AEREC_ISA_NS
#define AEREC_ISA_NS generic
#endif

namespace aerec {

// A CSR matrix (or just its pattern when data == nullptr), as scipy.sparse stores it.
template <class I, class T>
struct Csr {
    const I* indptr;   // (n_rows + 1,)
    const I* indices;  // (nnz,)   column of each stored entry, sorted and unique within a row
    const T* data;     // (nnz,)   may be nullptr for a pattern-only mask
    int64_t n_rows;
    int64_t n_cols;
};

}  // namespace aerec

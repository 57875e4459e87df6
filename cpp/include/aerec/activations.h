// aerec — activations: activation functions, inverted dropout and counter-based random draws, elementwise over
// dense arrays. The per-element maths lives in elementwise.h and random.h (shared with CUDA).
#pragma once

#include <cstdint>

#include "aerec/common.h"

namespace aerec {

// Y = f(Z) elementwise; Y may alias Z.
template <class T>
void activation_forward(int kind, T alpha, const T* Z, int64_t n, T* Y, int n_threads);

// dZ = f'(Z) ∘ dY, with Y = f(Z) from the forward pass; dZ may alias dY.
template <class T>
void activation_backward(int kind, T alpha, const T* Z, const T* Y, const T* dY, int64_t n, T* dZ, int n_threads);

// Inverted dropout on an (n_rows, n_cols) block: Y = X ∘ M / (1 − rate), M_rc = [u(seed, step,
// row_offset + r, c) ≥ rate]. The backward pass is the same call on dY (same key, same mask).
template <class T>
void dropout(const T* X, int64_t n_rows, int64_t n_cols, double rate, uint64_t seed, uint64_t step,
             int64_t row_offset, T* Y, int n_threads);

// Uniform [0, 1) draws (24 bits) and standard normal draws (Box–Muller over lanes 0 and 1, in
// double), keyed like dropout.
template <class T>
void random_uniform(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                    int n_threads);
template <class T>
void random_normal(int64_t n_rows, int64_t n_cols, uint64_t seed, uint64_t step, int64_t row_offset, T* out,
                   int n_threads);

}  // namespace aerec

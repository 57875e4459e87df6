// aerec — losses: losses fused with their gradients. Each returns the loss value (accumulated in
// double, over fixed blocks, so it is the same for any n_threads) and writes the gradient.
#pragma once

#include <cstdint>

#include "aerec/common.h"

namespace aerec {

// Masked squared error over the observed entries:
//   loss = scale · Σ_k (pred_k − target_k)²,   grad_k = 2·scale·(pred_k − target_k)
template <class T>
double masked_mse(const T* pred,    // (nnz,)
                  const T* target,  // (nnz,)
                  int64_t nnz, double scale,
                  T* grad,  // (nnz,) out, or nullptr
                  int n_threads);

// Multinomial log-likelihood with the output bias and log-softmax fused (Mult-VAE/DAE):
//   s_r = logits[r] + c,  loss = −scale · Σ_r Σ_j x_rj · log softmax(s_r)_j
// The gradient with respect to the logits, scale·(softmax(s_r)·Σ_j x_rj − x_r), overwrites `logits`
// in place: one pass for the max and the target term, one for the exponentials, one for the
// gradient, and no n_rows × n_items temporary. (dc is the column sum of that gradient.)
template <class T, class I>
double multinomial_loss_grad(T* logits,  // (n_rows, n_items) in: logits, out: gradient
                             const T* c,  // (n_items,) or nullptr
                             const Csr<I, T>& X,  // targets (n_rows, n_items)
                             double scale, int n_threads);

// KL(N(mu, e^logvar) ‖ N(0, 1)) summed over rows and dimensions, times scale:
//   loss = scale · Σ ½(−logvar + e^logvar + mu² − 1)
//   dmu = scale·mu,  dlogvar = scale·½(e^logvar − 1)
template <class T>
double gaussian_kl(const T* mu, const T* logvar,  // (n,) each, any shape flattened
                   int64_t n, double scale,
                   T* dmu, T* dlogvar,  // (n,) out, or nullptr
                   int n_threads);

}  // namespace aerec

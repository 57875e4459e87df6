// aerec — losses on the GPU: losses fused with their gradients (include/aerec/losses.h has the
// maths). The loss is written to a device double (*loss) rather than returned, so a training step
// never waits for the GPU; `partials` is scratch of loss_scratch_size() doubles (masked_mse,
// gaussian_kl) or n_rows doubles (multinomial_loss_grad).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace aerec {
namespace cuda {

constexpr int64_t loss_scratch_size() { return 1024; }  // = kMaxBlocks (common.cuh)

template <class T>
cudaError_t masked_mse(const T* pred, const T* target, int64_t nnz, double scale, T* grad, double* partials,
                       double* loss, cudaStream_t stream);

// logits (n_rows, n_items): in logits, out gradient; c (n_items,) or nullptr; X the CSR targets.
template <class T, class I>
cudaError_t multinomial_loss_grad(T* logits, const T* c, const I* indptr, const I* indices, const T* data,
                                  int64_t n_rows, int64_t n_items, double scale, double* row_loss, double* loss,
                                  cudaStream_t stream);

template <class T>
cudaError_t gaussian_kl(const T* mu, const T* logvar, int64_t n, double scale, T* dmu, T* dlogvar, double* partials,
                        double* loss, cudaStream_t stream);

}  // namespace cuda
}  // namespace aerec

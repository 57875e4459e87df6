// aerec — per-element maths shared by the CPU kernels and the CUDA kernels: activations and their
// derivatives, written once (extending-jax's kepler.h pattern). Everything here is a pure function
// of its arguments, so the CPU and GPU builds compute the same formula.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "aerec/common.h"

namespace aerec {

// The activation codes, shared with Python (aerec._native.ACTIVATIONS).
enum Activation : int {
    kIdentity = 0,
    kSigmoid = 1,
    kTanh = 2,
    kRelu = 3,
    kElu = 4,
    kSelu = 5,
    kLeakyRelu = 6,
    kSwish = 7,
    kNumActivations = 8,
};

// SELU constants (Klambauer et al. 2017), as PyTorch and TensorFlow use them.
constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

// Logistic function without overflow: exp of a non-positive number only.
template <class T>
AEREC_HD T sigmoid(T z) {
    if (z >= T(0)) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

// y = f(z). `alpha` is ELU's alpha and leaky ReLU's negative slope; other activations ignore it.
template <class T>
AEREC_HD T activation_value(int kind, T z, T alpha) {
    switch (kind) {
        case kSigmoid: return sigmoid(z);
        case kTanh: return std::tanh(z);
        case kRelu: return z > T(0) ? z : T(0);
        case kElu: return z > T(0) ? z : alpha * std::expm1(z);
        case kSelu: return T(kSeluLambda) * (z > T(0) ? z : T(kSeluAlpha) * std::expm1(z));
        case kLeakyRelu: return z > T(0) ? z : alpha * z;
        case kSwish: return z * sigmoid(z);
        default: return z;  // identity
    }
}

// f'(z), given z and y = f(z) (whichever is cheaper is used: tanh and sigmoid reuse y).
template <class T>
AEREC_HD T activation_derivative(int kind, T z, T y, T alpha) {
    switch (kind) {
        case kSigmoid: return y * (T(1) - y);
        case kTanh: return T(1) - y * y;
        case kRelu: return z > T(0) ? T(1) : T(0);
        case kElu: return z > T(0) ? T(1) : y + alpha;  // alpha·e^z = y + alpha
        case kSelu: return z > T(0) ? T(kSeluLambda) : y + T(kSeluLambda * kSeluAlpha);
        case kLeakyRelu: return z > T(0) ? T(1) : alpha;
        case kSwish: {
            const T s = sigmoid(z);  // d/dz z·σ(z) = σ + z·σ·(1−σ)
            return s * (T(1) + z * (T(1) - s));
        }
        default: return T(1);
    }
}

// exp for the softmax hot loop: branch-free so the compiler vectorises it (std::exp is a libm call
// that it will not). Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, then a degree-6
// polynomial for e^r and 2^n through the exponent bits; max relative error ≈ 2 ulp in float.
AEREC_HD float exp_vectorizable(float x) {
    x = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
    const float n = std::floor(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;  // ln2 split in two so n·hi is exact
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
AEREC_HD double exp_vectorizable(double x) { return std::exp(x); }

}  // namespace aerec

// aerec — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11 "Parallel random
// numbers: as easy as 1, 2, 3").
//
// A draw is a pure function of (seed, step, row, column): no generator state is carried between
// calls, so results do not depend on thread scheduling, batch order or device, and the NumPy
// oracle (_reference.ref_philox) reproduces them bit for bit.
//   key     = (seed mod 2^32, seed >> 32)
//   counter = (column, row, step mod 2^32, step >> 32)
// Lane 0 of the output drives dropout and uniforms; lanes 0 and 1 drive Box–Muller normals.
#pragma once

#include <cmath>
#include <cstdint>

#include "aerec/common.h"

namespace aerec {

struct Philox4 {
    uint32_t v[4];
};

AEREC_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
    const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
    hi = static_cast<uint32_t>(p >> 32);
    lo = static_cast<uint32_t>(p);
}

AEREC_HD Philox4 philox4x32_10(uint64_t seed, uint64_t step, uint64_t row, uint64_t col) {
    uint32_t c0 = static_cast<uint32_t>(col), c1 = static_cast<uint32_t>(row);
    uint32_t c2 = static_cast<uint32_t>(step), c3 = static_cast<uint32_t>(step >> 32);
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint32_t hi0, lo0, hi1, lo1;
        philox_mulhilo(0xD2511F53u, c0, hi0, lo0);
        philox_mulhilo(0xCD9E8D57u, c2, hi1, lo1);
        const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    return Philox4{{c0, c1, c2, c3}};
}

// Uniform on [0, 1) with 24 random bits: exact in float and double, so the same draw gives the
// same dropout mask in either precision.
AEREC_HD double uniform24(uint32_t x) { return static_cast<double>(x >> 8) * (1.0 / 16777216.0); }

// Uniform on the open interval (0, 1) with 32 bits, for logarithms.
AEREC_HD double uniform32_open(uint32_t x) { return (static_cast<double>(x) + 0.5) * (1.0 / 4294967296.0); }

// Inverted-dropout keep test: an entry survives when its uniform draw is >= rate.
AEREC_HD bool dropout_keep(uint64_t seed, uint64_t step, uint64_t row, uint64_t col, double rate) {
    return uniform24(philox4x32_10(seed, step, row, col).v[0]) >= rate;
}

// A standard normal draw by Box–Muller over lanes 0 and 1, computed in double.
AEREC_HD double normal_draw(uint64_t seed, uint64_t step, uint64_t row, uint64_t col) {
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    const Philox4 x = philox4x32_10(seed, step, row, col);
    const double u1 = uniform32_open(x.v[0]), u2 = uniform32_open(x.v[1]);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

// The multiplier of a sparse input entry x = X[r, j] under an optional row scale D_r and inverted
// dropout keyed by (seed, step, row_offset + r, j): D_r · x · [kept] / (1 − rate). keep_scale is
// T(1 / (1 − rate)); has_scale says whether D_r (scale) applies.
template <class T>
AEREC_HD T sparse_entry_coef(T x, bool has_scale, T scale, int64_t r, int64_t j, double dropout, T keep_scale,
                             uint64_t seed, uint64_t step, int64_t row_offset) {
    T coef = has_scale ? scale * x : x;
    if (dropout > 0.0) {
        if (!dropout_keep(seed, step, static_cast<uint64_t>(row_offset + r), static_cast<uint64_t>(j), dropout))
            return T(0);
        coef *= keep_scale;
    }
    return coef;
}

}  // namespace aerec

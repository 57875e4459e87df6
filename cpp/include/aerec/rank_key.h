// aerec — the ranking key shared by the top-k families (6: topk, 9: screened_topk): (score, index)
// packed into one unsigned integer whose order is the ranking.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace aerec {

// (score, index) packed into one unsigned integer whose order is the ranking: the score's bits made
// order-preserving (negative floats flip all bits, non-negative ones flip the sign bit) in the high
// part, the complemented index in the low 32 bits so that equal scores rank the lower index first.
// Candidates are then compared, partitioned and sorted as plain integers.
template <class T>
struct KeyOf {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "float or double");
    using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    using Key = std::conditional_t<sizeof(T) == 4, uint64_t, unsigned __int128>;
    static constexpr Bits kSign = Bits(1) << (8 * sizeof(T) - 1);

    // The score's bits, order-preserving as an unsigned integer (−0 taken as +0).
    static Bits order_bits(T s) {
        Bits u;
        s += T(0);  // −0 → +0, so the two zeros tie as they compare equal
        std::memcpy(&u, &s, sizeof u);
        return (u & kSign) ? ~u : (u | kSign);
    }
    static T from_order_bits(Bits u) {
        u = (u & kSign) ? (u & ~kSign) : ~u;
        T s;
        std::memcpy(&s, &u, sizeof s);
        return s;
    }
    static Key make(T s, int64_t j) {
        return (static_cast<Key>(order_bits(s)) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
    }
    static T score(Key key) { return from_order_bits(static_cast<Bits>(key >> 32)); }
};

}  // namespace aerec

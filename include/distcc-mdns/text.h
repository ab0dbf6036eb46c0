// Strict, locale-free parsing of the small tokens our formats carry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dmdns::text {

// A plain decimal integer: digits only, no sign, no spaces, in [min, max].
std::optional<std::uint64_t> parseUint(std::string_view s, std::uint64_t min,
				       std::uint64_t max) noexcept;

// A plain decimal number such as "12" or "1.25": digits with at most one
// point and at most @maxFraction digits after it, in [min, max].
std::optional<double> parseDecimal(std::string_view s, double min, double max,
				   unsigned maxFraction = 3) noexcept;

// Exactly 16 hexadecimal digits (a 64-bit id or key): lower-case ones, and
// upper-case ones too with @upper.
std::optional<std::uint64_t> parseHex64(std::string_view s, bool upper = false) noexcept;

// Formats @value with up to three decimals and no trailing zeros.
std::string formatDecimal(double value);

// Characters of a GNU target triplet and of a compiler version.
inline constexpr std::string_view kTripletChars = "._-";
inline constexpr std::string_view kVersionChars = "._+~-";
inline constexpr std::size_t kMaxToken = 63;

// 1 to kMaxToken letters, digits and characters in @extra.
bool isToken(std::string_view s, std::string_view extra) noexcept;

// Letters, digits and the characters in @extra only.
bool onlyChars(std::string_view s, std::string_view extra) noexcept;

// ASCII case folding, independent of the locale.
std::string lower(std::string_view s);

// Printable US-ASCII, as DNS-SD allows in keys.
bool isPrintableAscii(std::string_view s) noexcept;

// A short rendering of untrusted bytes for error messages: printable ASCII
// kept, everything else escaped, cut at @max characters.
std::string quote(std::string_view s, std::size_t max = 40);

} // namespace dmdns::text

// Strict, locale-free parsing of the small tokens our formats carry.
#include "distcc-mdns/text.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace dmdns::text {

namespace {

bool isDigit(char c) noexcept
{
	return c >= '0' && c <= '9';
}

bool isAlpha(char c) noexcept
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

} // namespace

std::optional<std::uint64_t> parseUint(std::string_view s, std::uint64_t min,
				       std::uint64_t max) noexcept
{
	if (s.empty() || s.size() > 20)
		return std::nullopt;
	for (char c : s)
		if (!isDigit(c))
			return std::nullopt;
	std::uint64_t value = 0;
	auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
	if (ec != std::errc() || end != s.data() + s.size())
		return std::nullopt;
	if (value < min || value > max)
		return std::nullopt;
	return value;
}

std::optional<double> parseDecimal(std::string_view s, double min, double max,
				   unsigned maxFraction) noexcept
{
	const auto point = s.find('.');
	const std::string_view whole = s.substr(0, point);
	const std::string_view fraction =
		point == std::string_view::npos ? std::string_view{} : s.substr(point + 1);
	if (whole.empty() || whole.size() > 9)
		return std::nullopt;
	if (point != std::string_view::npos && (fraction.empty() || fraction.size() > maxFraction))
		return std::nullopt;
	for (std::string_view part : { whole, fraction })
		for (char c : part)
			if (!isDigit(c))
				return std::nullopt;

	double value = 0.0;
	for (char c : whole)
		value = value * 10 + (c - '0');
	double scale = 0.1;
	for (char c : fraction) {
		value += (c - '0') * scale;
		scale /= 10;
	}
	if (!std::isfinite(value) || value < min || value > max)
		return std::nullopt;
	return value;
}

std::optional<std::uint64_t> parseHex64(std::string_view s, bool upper) noexcept
{
	if (s.size() != 16)
		return std::nullopt;
	std::uint64_t v = 0;
	for (char c : s) {
		unsigned digit;
		if (c >= '0' && c <= '9')
			digit = static_cast<unsigned>(c - '0');
		else if (c >= 'a' && c <= 'f')
			digit = static_cast<unsigned>(c - 'a' + 10);
		else if (upper && c >= 'A' && c <= 'F')
			digit = static_cast<unsigned>(c - 'A' + 10);
		else
			return std::nullopt;
		v = v << 4 | digit;
	}
	return v;
}

std::string formatDecimal(double value)
{
	std::string s = fmt::format("{:.3f}", value);
	while (s.back() == '0')
		s.pop_back();
	if (s.back() == '.')
		s.pop_back();
	return s;
}

bool isToken(std::string_view s, std::string_view extra) noexcept
{
	return !s.empty() && s.size() <= kMaxToken && onlyChars(s, extra);
}

bool onlyChars(std::string_view s, std::string_view extra) noexcept
{
	for (char c : s)
		if (!isAlpha(c) && !isDigit(c) && extra.find(c) == std::string_view::npos)
			return false;
	return true;
}

std::string lower(std::string_view s)
{
	std::string out(s);
	for (char &c : out)
		if (c >= 'A' && c <= 'Z')
			c = static_cast<char>(c - 'A' + 'a');
	return out;
}

bool isPrintableAscii(std::string_view s) noexcept
{
	for (char c : s)
		if (c < 0x20 || c > 0x7e)
			return false;
	return true;
}

std::string quote(std::string_view s, std::size_t max)
{
	std::string out = "\"";
	for (std::size_t i = 0; i < s.size(); ++i) {
		if (i == max) {
			out += "...";
			break;
		}
		const auto c = static_cast<unsigned char>(s[i]);
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out += static_cast<char>(c);
		else
			out += fmt::format("\\x{:02x}", c);
	}
	out += '"';
	return out;
}

} // namespace dmdns::text

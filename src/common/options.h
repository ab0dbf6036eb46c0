// Command-line value parsing shared by the executables; usage errors exit with status 2.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace dmdns::cli {

inline constexpr int kUsageError = 2;

class Parser final
{
public:
	explicit Parser(std::string program)
		: program_(std::move(program)) { }

	// Prints "PROGRAM: MESSAGE" and the --help hint, then exits with 2.
	template <typename... Args>
	[[noreturn]] void fail(fmt::format_string<Args...> format, const Args &...args) const
	{
		vfail(format, fmt::make_format_args(args...));
	}
	[[noreturn]] void tryHelp() const;

	std::int64_t integer(std::string_view option, std::string_view text, std::int64_t min,
			     std::int64_t max) const;
	double decimal(std::string_view option, std::string_view text, double min, double max) const;

private:
	[[noreturn]] void vfail(fmt::string_view format, fmt::format_args args) const;

	std::string program_;
};

} // namespace dmdns::cli

// Command-line value parsing shared by the executables.
#include "common/options.h"

#include <cstdio>
#include <cstdlib>

#include "distcc-mdns/text.h"

namespace dmdns::cli {

void Parser::tryHelp() const
{
	std::fprintf(stderr, "Try '%s --help' for more information.\n", program_.c_str());
	std::exit(kUsageError);
}

void Parser::vfail(fmt::string_view format, fmt::format_args args) const
{
	std::fprintf(stderr, "%s: %s\n", program_.c_str(), fmt::vformat(format, args).c_str());
	tryHelp();
}

std::int64_t Parser::integer(std::string_view option, std::string_view text, std::int64_t min,
			     std::int64_t max) const
{
	const auto value = text::parseUint(text, static_cast<std::uint64_t>(min), static_cast<std::uint64_t>(max));
	if (!value)
		fail("{} needs an integer in [{}, {}], not '{}'", option, min, max, text);
	return static_cast<std::int64_t>(*value);
}

double Parser::decimal(std::string_view option, std::string_view text, double min, double max) const
{
	const auto value = text::parseDecimal(text, min, max);
	if (!value)
		fail("{} needs a decimal number in [{}, {}], not '{}'", option, min, max, text);
	return *value;
}

} // namespace dmdns::cli

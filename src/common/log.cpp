// Levelled logging to stderr.
#include "common/log.h"

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace dmdns {

namespace {

std::atomic<LogLevel> gLevel{ LogLevel::Warning };

const char *prefix(LogLevel level) noexcept
{
	switch (level) {
	case LogLevel::Error:
		return "error: ";
	case LogLevel::Warning:
		return "warning: ";
	case LogLevel::Info:
		return "";
	case LogLevel::Debug:
		return "debug: ";
	}
	return "";
}

} // namespace

void setLogLevel(LogLevel level) noexcept
{
	gLevel.store(level, std::memory_order_relaxed);
}

bool logEnabled(LogLevel level) noexcept
{
	return level <= gLevel.load(std::memory_order_relaxed);
}

void vlog(LogLevel level, fmt::string_view format, fmt::format_args args) noexcept
{
	try {
		fmt::memory_buffer line;
		fmt::format_to(std::back_inserter(line), "{}{}", program_invocation_short_name,
			       ": ");
		fmt::format_to(std::back_inserter(line), "{}", prefix(level));
		fmt::vformat_to(std::back_inserter(line), format, args);
		line.push_back('\n');
		// One write per line keeps lines whole when several processes log.
		std::fwrite(line.data(), 1, line.size(), stderr);
	} catch (...) {
		std::fputs("log: formatting failed\n", stderr);
	}
}

} // namespace dmdns

// Levelled logging to stderr; arguments are formatted only when the level is on.
#pragma once

#include <fmt/format.h>

namespace dmdns {

enum class LogLevel {
	Error,
	Warning,
	Info,
	Debug
};

void setLogLevel(LogLevel level) noexcept;
bool logEnabled(LogLevel level) noexcept;

// The one non-template sink; use log() below.
void vlog(LogLevel level, fmt::string_view format, fmt::format_args args) noexcept;

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, const Args &...args) noexcept
{
	if (logEnabled(level))
		vlog(level, format, fmt::make_format_args(args...));
}

} // namespace dmdns

// Runs the body of a C callback (libuv, Avahi) so that no exception crosses back into C.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dmdns {

// The one error sink of guarded(): logs the exception being handled at
// error level, prefixed with @where. Call it only from inside a catch.
void reportEscaped(std::string_view where) noexcept;

// Runs @callback(@args...) and reports whatever it throws through
// reportEscaped(@where): C callers (libuv, Avahi) cannot unwind, so the
// callback is noexcept and its failure is logged instead. Returns whether
// it ran to the end, or for a callback with a value, that value if it did.
template <typename F, typename... Args>
auto guarded(std::string_view where, F &&callback, Args &&...args) noexcept
{
	using Result = std::invoke_result_t<F, Args...>;
	if constexpr (std::is_void_v<Result>) {
		try {
			std::invoke(std::forward<F>(callback), std::forward<Args>(args)...);
			return true;
		} catch (...) {
			reportEscaped(where);
			return false;
		}
	} else {
		try {
			return std::optional<Result>(
				std::invoke(std::forward<F>(callback), std::forward<Args>(args)...));
		} catch (...) {
			reportEscaped(where);
			return std::optional<Result>();
		}
	}
}

} // namespace dmdns

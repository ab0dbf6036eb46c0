// Helpers the libuv handle owners share: allocation, release, guarded callbacks.
#pragma once

#include <memory>
#include <string_view>
#include <utility>

#include <uv.h>

#include "handle.h"
#include "log.h"

namespace dmdns::uv::detail {

// Heap memory for a handle of type T, initialised by @init; freed here if
// init fails (libuv has not registered it then) and by release<T> otherwise.
template<typename T, typename Init>
uv_handle_t *make(Init &&init, std::string_view what)
{
	auto handle = std::make_unique<T>();
	check(init(handle.get()), what);
	return reinterpret_cast<uv_handle_t *>(handle.release());
}

template<typename T>
void release(uv_handle_t *handle) noexcept
{
	delete reinterpret_cast<T *>(handle);
}

template<typename F, typename... Args>
void guarded(std::string_view where, const F &callback, Args &&...args) noexcept
{
	try {
		callback(std::forward<Args>(args)...);
	} catch (const std::exception &e) {
		log(LogLevel::Error, "{}: {}", where, e.what());
	} catch (...) {
		log(LogLevel::Error, "{}: unknown exception", where);
	}
}

} // namespace dmdns::uv::detail

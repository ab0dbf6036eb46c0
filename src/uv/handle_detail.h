// Helpers the libuv handle owners share: allocation and release of handles.
#pragma once

#include <memory>
#include <string_view>

#include <uv.h>

#include "uv/guarded.h"
#include "uv/handle.h"

namespace dmdns::uv::detail {

// Heap memory for a handle of type T, initialised by @init; freed here if
// init fails (libuv has not registered it then) and by release<T> otherwise.
template <typename T, typename Init>
uv_handle_t *make(Init &&init, std::string_view what)
{
	auto handle = std::make_unique<T>();
	check(init(handle.get()), what);
	return reinterpret_cast<uv_handle_t *>(handle.release());
}

template <typename T>
void release(uv_handle_t *handle) noexcept
{
	delete reinterpret_cast<T *>(handle);
}

} // namespace dmdns::uv::detail

// The error sink of guarded C callbacks: what escaped them goes to the log.
#include "uv/guarded.h"

#include <exception>

#include "common/log.h"

namespace dmdns {

void reportEscaped(std::string_view where) noexcept
{
	try {
		throw;
	} catch (const std::exception &e) {
		log(LogLevel::Error, "{}: {}", where, e.what());
	} catch (...) {
		log(LogLevel::Error, "{}: unknown exception", where);
	}
}

} // namespace dmdns

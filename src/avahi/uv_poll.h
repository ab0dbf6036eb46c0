// AvahiPoll over a libuv loop, so avahi-client runs on the daemon's one event loop.
#pragma once

#include <memory>

#include <uv.h>

struct AvahiPoll;

namespace dmdns::avahi {

// Watches share one uv_poll_t per file descriptor (libdbus keeps a read and
// a write watch on one socket; libuv refuses a second uv_poll_t on an fd);
// each timeout has its own uv timer. Watches and timeouts may be updated or
// freed from any of their callbacks; their memory is reclaimed once the
// outermost callback returns.
class UvPoll final
{
public:
	// Borrows @loop, which must outlive this object.
	explicit UvPoll(uv_loop_t &loop);
	// Free the Avahi objects first (avahi_client_free frees their watches
	// and timeouts); any still left are freed here with a warning. Not from
	// inside one of this object's callbacks.
	~UvPoll();

	UvPoll(const UvPoll &) = delete;
	UvPoll &operator=(const UvPoll &) = delete;

	// Valid as long as this object.
	const AvahiPoll *get() const noexcept;

private:
	class Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace dmdns::avahi

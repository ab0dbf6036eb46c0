// Name lookups on the libuv thread pool, cancelled by dropping their owner.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <uv.h>

namespace dmdns::uv {

// Looks up @host's addresses (numeric text, IPv4 first) without blocking the
// loop. @done runs on the loop with the addresses, or none and the error.
// Destroying the Lookup first means @done never runs; the request's memory
// is freed when libuv completes it, which Loop's destructor waits for.
class Lookup final
{
public:
	using Done = std::function<void(std::vector<std::string> addresses, std::string error)>;

	Lookup(uv_loop_t &loop, const std::string &host, Done done);
	~Lookup();

	Lookup(const Lookup &) = delete;
	Lookup &operator=(const Lookup &) = delete;

	bool pending() const noexcept { return request_ != nullptr; }

private:
	struct Request;

	static void completed(uv_getaddrinfo_t *req, int status, addrinfo *result) noexcept;

	Request *request_; // owned by libuv until completed()
};

} // namespace dmdns::uv

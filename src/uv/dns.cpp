// Name lookups on the libuv thread pool, cancelled by dropping their owner.
#include "uv/dns.h"

#include <memory>

#include <netdb.h>

#include "uv/handle.h"
#include "uv/handle_detail.h"

namespace dmdns::uv {

struct Lookup::Request {
	uv_getaddrinfo_t req{};
	Lookup *owner; // nullptr once the owner is gone
	Done done;
};

Lookup::Lookup(uv_loop_t &loop, const std::string &host, Done done)
{
	auto request = std::make_unique<Request>();
	request->owner = this;
	request->done = std::move(done);
	request->req.data = request.get();
	addrinfo hints{};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	check(uv_getaddrinfo(&loop, &request->req, completed, host.c_str(), nullptr, &hints), "getaddrinfo");
	request_ = request.release();
}

Lookup::~Lookup()
{
	if (!request_)
		return;
	request_->owner = nullptr;
	// If the lookup already runs, it completes anyway and is freed then.
	uv_cancel(reinterpret_cast<uv_req_t *>(&request_->req));
}

void Lookup::completed(uv_getaddrinfo_t *req, int status, addrinfo *result) noexcept
{
	std::unique_ptr<Request> request(static_cast<Request *>(req->data));
	std::unique_ptr<addrinfo, void (*)(addrinfo *)> list(result, uv_freeaddrinfo);
	if (!request->owner)
		return;
	request->owner->request_ = nullptr;
	std::vector<std::string> v4, v6;
	for (const addrinfo *a = result; status == 0 && a; a = a->ai_next) {
		char text[INET6_ADDRSTRLEN + 16] = {};
		if (a->ai_family == AF_INET &&
		    uv_ip4_name(reinterpret_cast<const sockaddr_in *>(a->ai_addr), text, sizeof text) == 0)
			v4.emplace_back(text);
		else if (a->ai_family == AF_INET6 &&
			 uv_ip6_name(reinterpret_cast<const sockaddr_in6 *>(a->ai_addr), text, sizeof text) == 0)
			v6.emplace_back(text);
	}
	v4.insert(v4.end(), v6.begin(), v6.end());
	const std::string error = status == 0 ? std::string() : uv_strerror(status);
	guarded("name lookup", request->done, std::move(v4), error);
}

} // namespace dmdns::uv

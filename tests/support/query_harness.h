// A query server on a private socket, and clients that talk to it while the test drives the loop.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/json_codec.h"
#include "daemon/query_server.h"

namespace dmdns::test {

struct QueryHarness {
	std::string dir;
	std::string path;
	uv::Loop loop;
	std::unique_ptr<QueryServer> server;
	// Keeps the loop waking while a test polls.
	uv::Timer tick{ loop.get(), [] {} };
	std::vector<int> fds; // the clients, closed at the end

	QueryHarness(QueryLimits limits, codec::Handler handler)
	{
		char tmpl[] = "/tmp/dmdns-query-XXXXXX";
		REQUIRE(::mkdtemp(tmpl));
		dir = tmpl;
		path = dir + "/run/socket";
		server = std::make_unique<QueryServer>(
			loop.get(), path,
			[handler = std::move(handler)](std::string_view line, const Caller &caller) {
				return codec::answerLine(line, handler, caller);
			},
			std::move(limits));
		tick.start(std::chrono::milliseconds(2), std::chrono::milliseconds(2));
	}
	~QueryHarness()
	{
		server.reset();
		tick.close();
		for (int fd : fds)
			::close(fd);
		std::filesystem::remove_all(dir);
	}
	QueryHarness(const QueryHarness &) = delete;
	QueryHarness &operator=(const QueryHarness &) = delete;

	// A new client; @receiveBuffer > 0 shrinks its socket's receive buffer.
	int connect(int receiveBuffer = 0)
	{
		const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		REQUIRE(fd >= 0);
		if (receiveBuffer > 0)
			::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		path.copy(address.sun_path, sizeof address.sun_path - 1);
		REQUIRE(::connect(fd, reinterpret_cast<const sockaddr *>(&address), sizeof address) == 0);
		fds.push_back(fd);
		return fd;
	}

	// Closes client @fd before the end.
	void close(int fd)
	{
		::close(fd);
		std::erase(fds, fd);
	}

	// Runs the loop until @done or @limit passed; whether @done held.
	template <typename F>
	bool runUntil(F done, std::chrono::milliseconds limit = std::chrono::seconds(5))
	{
		const auto end = std::chrono::steady_clock::now() + limit;
		while (!done()) {
			if (std::chrono::steady_clock::now() > end)
				return false;
			loop.run(UV_RUN_ONCE);
		}
		return true;
	}
};

} // namespace dmdns::test

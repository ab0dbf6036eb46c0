// A test's client end of a stream socket: what it received so far, read without blocking.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace dmdns::test {

// What a client received so far, and whether the server closed.
struct Received {
	std::string data;
	bool eof = false;

	std::size_t lines() const { return static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n')); }
};

// Reads what is there now into @r, without waiting.
inline void drain(int fd, Received &r)
{
	char buffer[65536];
	for (int i = 0; i < 1000; ++i) {
		const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
		if (n > 0) {
			r.data.append(buffer, static_cast<std::size_t>(n));
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			r.eof = true;
		return;
	}
}

// Sends all of @data or fails the test.
inline void send(int fd, std::string_view data)
{
	REQUIRE(::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

} // namespace dmdns::test

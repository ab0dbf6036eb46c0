// Bounded loop runs, owned file descriptors and Unix-socket clients for the adapter tests.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "support/temp_dir.h"
#include "uv/handle.h"

namespace dmdns::test {

// Runs @loop until something calls stop(); false if @limit passed first and
// the watchdog stopped it instead.
inline bool runUntilStopped(uv::Loop &loop, std::chrono::milliseconds limit = std::chrono::seconds(5))
{
	bool expired = false;
	uv::Timer watchdog(loop.get(), [&] {
		expired = true;
		loop.stop();
	});
	watchdog.start(limit);
	loop.run();
	return !expired;
}

// Runs @loop for @span of loop time, for checks that something does not happen.
inline void runFor(uv::Loop &loop, std::chrono::milliseconds span)
{
	uv::Timer stopper(loop.get(), [&] { loop.stop(); });
	stopper.start(span);
	loop.run();
}

[[noreturn]] inline void fail(const char *what)
{
	throw std::system_error(errno, std::generic_category(), what);
}

// A file descriptor closed on destruction.
class Fd final
{
public:
	explicit Fd(int fd = -1) noexcept
		: fd_(fd) { }
	~Fd() { reset(); }
	Fd(Fd &&other) noexcept
		: fd_(std::exchange(other.fd_, -1)) { }
	Fd &operator=(Fd &&other) noexcept
	{
		reset(std::exchange(other.fd_, -1));
		return *this;
	}

	int get() const noexcept { return fd_; }
	void reset(int fd = -1) noexcept
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = fd;
	}

private:
	int fd_;
};

// Both ends of a pipe (@unix false) or of a Unix stream socketpair.
struct Pair {
	Fd a, b;

	explicit Pair(bool unix = false)
	{
		int fds[2];
		if ((unix ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : ::pipe2(fds, O_CLOEXEC)) != 0)
			fail("pipe");
		a.reset(fds[0]);
		b.reset(fds[1]);
	}
};

// A blocking client connected to @path; reads give up after 5 s so that a
// broken server fails the test instead of hanging it.
inline Fd connectUnix(const std::string &path)
{
	Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0)
		fail("socket");
	const timeval limit{ 5, 0 };
	if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) != 0)
		fail("setsockopt");
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
	if (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) != 0)
		fail("connect");
	return fd;
}

inline void writeAll(int fd, std::string_view data)
{
	while (!data.empty()) {
		const ssize_t n = ::write(fd, data.data(), data.size());
		if (n < 0)
			fail("write");
		data.remove_prefix(static_cast<std::size_t>(n));
	}
}

// Everything until end of file; throws on error or timeout.
inline std::string readAll(int fd)
{
	std::string all;
	char buf[4096];
	for (;;) {
		const ssize_t n = ::read(fd, buf, sizeof(buf));
		if (n < 0)
			fail("read");
		if (n == 0)
			return all;
		all.append(buf, static_cast<std::size_t>(n));
	}
}

} // namespace dmdns::test

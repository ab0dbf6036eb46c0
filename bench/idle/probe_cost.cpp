// probe-cost: what each part of one load reading costs, timed over many calls, old and new way side by side.
#include <arpa/inet.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <functional>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "host/files.h"
#include "host/probe.h"
#include "host/procfs.h"
#include "host/sock_diag.h"

using namespace dmdns;
using namespace dmdns::host;

namespace {

// This process's CPU time (user and system) in microseconds: on a busy
// machine the wall clock counts other processes' turns too.
double cpuMicros()
{
	timespec t{};
	::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return double(t.tv_sec) * 1e6 + double(t.tv_nsec) / 1e3;
}

// CPU microseconds per call of @fn over @calls calls (at least one).
double perCall(int calls, const std::function<void()> &fn)
{
	const double start = cpuMicros();
	for (int i = 0; i < calls; ++i)
		fn();
	return (cpuMicros() - start) / calls;
}

// A listener on 127.0.0.1 with an ephemeral port and @connections queued
// connections to it, so that the readings have something to count.
struct Loopback {
	UniqueFd listener;
	std::vector<UniqueFd> clients;
	std::uint16_t port = 0;

	explicit Loopback(int connections)
	{
		listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t length = sizeof addr;
		if (::bind(listener.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0 ||
		    ::listen(listener.get(), 128) < 0 ||
		    ::getsockname(listener.get(), reinterpret_cast<sockaddr *>(&addr), &length) < 0) {
			std::perror("listener");
			std::exit(1);
		}
		port = ntohs(addr.sin_port);
		for (int i = 0; i < connections; ++i) {
			UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
			if (::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0)
				clients.push_back(std::move(c));
		}
	}
};

} // namespace

int main(int argc, char **argv)
{
	const int calls = argc > 1 ? std::atoi(argv[1]) : 10000;
	if (calls < 1 || calls > 10'000'000) {
		std::fprintf(stderr, "usage: probe-cost [CALLS (1-10000000, default 10000)]\n");
		return 2;
	}
	// The old way costs about 100x more: fewer calls keep the run short.
	const int legacyCalls = std::max(1, calls / 10);
	Loopback loopback(8);
	const std::uint16_t port = loopback.port;

	const auto tcp = readBounded("/proc/net/tcp", 16u << 20);
	const auto tcp6 = readBounded("/proc/net/tcp6", 16u << 20);
	const std::size_t lines = (tcp ? procfs::parseTcp(tcp->text).size() : 0) +
				  (tcp6 ? procfs::parseTcp(tcp6->text).size() : 0);
	fmt::print("probe-cost: {} calls ({} for the /proc socket table), {} TCP sockets on this host, {} "
		   "connections to the probed port\n",
		   calls, legacyCalls, lines, loopback.clients.size());

	SockDiag diag;
	if (!diag.available())
		fmt::print("NETLINK_SOCK_DIAG unavailable: the new rows fall back to /proc\n");
	const auto check = diag.port(port);
	fmt::print("netlink sees {} listener(s) and {} established; /proc sees {} and {}\n",
		   check ? check->listeners.size() : 0, check ? check->established : 0,
		   portSocketsFromProc(port).listeners.size(), portSocketsFromProc(port).established);

	UniqueFd loadavg(::open("/proc/loadavg", O_RDONLY | O_CLOEXEC));
	struct Row {
		const char *what;
		double us;
	};
	const std::vector<Row> rows{
		{ "sockets, /proc/net/tcp + tcp6 parsed", perCall(legacyCalls, [&] { portSocketsFromProc(port); }) },
		{ "sockets, NETLINK_SOCK_DIAG (walks connections)", perCall(calls, [&] { diag.port(port); }) },
		{ "listeners only, NETLINK_SOCK_DIAG", perCall(calls, [&] { diag.listeners(port); }) },
		{ "sockets, NETLINK_SOCK_DIAG, socket per call", perCall(calls, [&] { SockDiag().port(port); }) },
		{ "socket counts (sockstat, sockstat6), fds kept",
		  [&] {
			  SocketCounts counts;
			  return perCall(calls, [&] { counts.read(); });
		  }() },
		{ "loadavg, open + read + close + parse",
		  perCall(calls,
			  [&] {
				  if (auto f = readBounded("/proc/loadavg", 4096))
					  procfs::parseLoadavg(f->text);
			  }) },
		{ "loadavg, pread on a kept fd + parse",
		  perCall(calls,
			  [&] {
				  char buffer[256];
				  const ssize_t n = ::pread(loadavg.get(), buffer, sizeof buffer, 0);
				  if (n > 0)
					  procfs::parseLoadavg(std::string_view(buffer, static_cast<std::size_t>(n)));
			  }) },
		{ "LoadProbe::read, legacy (/proc sockets)",
		  [&] {
			  LoadProbe probe(port, "/proc", distccdUids(), true);
			  probe.read(); // the first read checks the listener: not counted
			  return perCall(legacyCalls, [&] { probe.read(); });
		  }() },
		{ "LoadProbe::read, new, nothing changed",
		  [&] {
			  LoadProbe probe(port);
			  probe.read();
			  return perCall(calls, [&] { probe.read(); });
		  }() },
	};
	for (const Row &r : rows)
		fmt::print("  {:<44} {:9.1f} us CPU/call  {:7.3f} % of a core at 4 calls/s\n", r.what, r.us,
			   r.us * 4 / 1e6 * 100);
	return 0;
}

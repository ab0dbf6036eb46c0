// Tests of the NETLINK_SOCK_DIAG reader and the socket counts on real loopback sockets; no root needed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <map>
#include <netinet/in.h>
#include <sstream>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "common/log.h"

#include "host/files.h"
#include "host/probe.h"
#include "host/sock_diag.h"
#include "support/temp_dir.h"

using namespace dmdns;
using namespace dmdns::host;
namespace fs = std::filesystem;

using dmdns::test::TempDir;

namespace {

// A TCP listener on a loopback address of @family with an ephemeral port.
class Listener final
{
public:
	explicit Listener(int family = AF_INET)
		: family_(family)
	{
		fd_.reset(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
		REQUIRE(fd_.get() >= 0);
		sockaddr_storage addr = loopback(0);
		REQUIRE(::bind(fd_.get(), reinterpret_cast<sockaddr *>(&addr), length()) == 0);
		REQUIRE(::listen(fd_.get(), 64) == 0);
		socklen_t len = sizeof addr;
		REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr *>(&addr), &len) == 0);
		port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in &>(addr).sin_port
						: reinterpret_cast<sockaddr_in6 &>(addr).sin6_port);
	}

	std::uint16_t port() const noexcept { return port_; }
	int fd() const noexcept { return fd_.get(); }

	// A client connection, left in the backlog: a queued distcc job.
	UniqueFd connect() const
	{
		UniqueFd c(::socket(family_, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_storage addr = loopback(port_);
		REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), length()) == 0);
		return c;
	}

private:
	sockaddr_storage loopback(std::uint16_t port) const
	{
		sockaddr_storage addr{};
		if (family_ == AF_INET) {
			auto &a = reinterpret_cast<sockaddr_in &>(addr);
			a.sin_family = AF_INET;
			a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			a.sin_port = htons(port);
		} else {
			auto &a = reinterpret_cast<sockaddr_in6 &>(addr);
			a.sin6_family = AF_INET6;
			a.sin6_addr = in6addr_loopback;
			a.sin6_port = htons(port);
		}
		return addr;
	}
	socklen_t length() const { return family_ == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }

	int family_;
	UniqueFd fd_;
	std::uint16_t port_ = 0;
};

// The inode of the socket behind @fd, as the kernel's tables name it.
std::uint64_t inodeOf(int fd)
{
	const auto link = readLink("/proc/self/fd/" + std::to_string(fd));
	REQUIRE(link);
	REQUIRE(link->rfind("socket:[", 0) == 0);
	return std::stoull(link->substr(8));
}

bool ipv6Loopback()
{
	UniqueFd s(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_in6 a{};
	a.sin6_family = AF_INET6;
	a.sin6_addr = in6addr_loopback;
	return s.get() >= 0 && ::bind(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
}

// Makes socket(AF_NETLINK, ...) fail with EAFNOSUPPORT in this process from
// now on, as a sandbox without AF_NETLINK does; false if seccomp refused.
bool refuseNetlink()
{
	sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	sock_fprog program{ static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter };
	return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

} // namespace

TEST_SUITE("sock_diag")
{
	TEST_CASE("SockDiag sees the listener and exactly the K connections to its port")
	{
		SockDiag diag;
		REQUIRE_MESSAGE(diag.available(), "NETLINK_SOCK_DIAG refused here");
		Listener listener;
		// Sockets on other ports, listening and connected, that the filter
		// must leave out: they make a count without the filter too large.
		Listener other;
		std::vector<UniqueFd> noise;
		for (int i = 0; i < 3; ++i)
			noise.push_back(other.connect());

		constexpr int kConnections = 5;
		std::vector<UniqueFd> clients;
		for (int i = 0; i < kConnections; ++i)
			clients.push_back(listener.connect());

		std::uint64_t before = diag.received();
		auto seen = diag.port(listener.port());
		REQUIRE(seen);
		// The kernel filtered: it sent the listener and the K server ends,
		// none of the noise nor the client ends (local port ephemeral).
		CHECK(diag.received() - before == 1 + kConnections);
		REQUIRE(seen->listeners.size() == 1);
		const procfs::TcpEntry &l = seen->listeners.front();
		CHECK_FALSE(l.local.ipv6);
		CHECK(l.local.addressText() == "127.0.0.1");
		CHECK(l.local.port == listener.port());
		CHECK(l.state == procfs::kTcpListen);
		CHECK(l.uid == ::getuid());
		CHECK(l.inode == inodeOf(listener.fd()));
		CHECK(seen->established == kConnections);
		CHECK_FALSE(seen->truncated);

		// What /proc/net/tcp says, the old way, agrees.
		const PortSockets old = portSocketsFromProc(listener.port());
		REQUIRE(old.listeners.size() == 1);
		CHECK(old.listeners.front().inode == l.inode);
		CHECK(old.established == seen->established);

		// Only the listeners: no walk over the connections.
		before = diag.received();
		auto only = diag.listeners(listener.port());
		REQUIRE(only);
		CHECK(diag.received() - before == 1);
		CHECK(only->listeners.size() == 1);
		CHECK(only->established == 0);
		CHECK(diag.established(listener.port(), AF_INET) == std::optional<std::uint32_t>(kConnections));
		CHECK(diag.established(listener.port(), AF_INET6) == std::optional<std::uint32_t>(0));

		// Two close: counted at once.
		clients.resize(kConnections - 2);
		seen = diag.port(listener.port());
		REQUIRE(seen);
		CHECK(seen->established == kConnections - 2);

		// The other port has its own listener and its 3.
		seen = diag.port(other.port());
		REQUIRE(seen);
		CHECK(seen->listeners.size() == 1);
		CHECK(seen->established == 3);

		// A port nobody uses: nothing, and no connection counted.
		const std::uint16_t unused = Listener().port(); // free a moment ago
		seen = diag.port(unused);
		REQUIRE(seen);
		CHECK(seen->listeners.empty());
		CHECK(seen->established == 0);
	}

	TEST_CASE("SockDiag on IPv6: the listener's family and address, and its connections")
	{
		if (!ipv6Loopback()) {
			MESSAGE("no IPv6 loopback here: skipped");
			return;
		}
		SockDiag diag;
		REQUIRE(diag.available());
		Listener listener(AF_INET6);
		std::vector<UniqueFd> clients;
		for (int i = 0; i < 4; ++i)
			clients.push_back(listener.connect());
		const auto seen = diag.port(listener.port());
		REQUIRE(seen);
		REQUIRE(seen->listeners.size() == 1);
		CHECK(seen->listeners.front().local.ipv6);
		CHECK(seen->listeners.front().local.addressText() == "::1");
		CHECK(seen->established == 4);
		CHECK(diag.established(listener.port(), AF_INET) == std::optional<std::uint32_t>(0));
		CHECK(portSockets(listener.port()).established == 4);
	}

	TEST_CASE("SockDiag counts outgoing connections per uid and server")
	{
		SockDiag diag;
		REQUIRE(diag.available());
		Listener a;
		std::vector<UniqueFd> clients;
		for (int i = 0; i < 3; ++i)
			clients.push_back(a.connect());
		const auto out = diag.outgoing(a.port());
		REQUIRE(out);
		// The client ends of the 3 connections, not the server's ends
		// (their remote port is the client's ephemeral one).
		REQUIRE(out->size() == 1);
		const OutgoingCount &c = out->front();
		CHECK(c.key.uid == ::getuid());
		CHECK_FALSE(c.key.ipv6);
		CHECK(c.key.port == a.port());
		const std::uint32_t loopback = htonl(INADDR_LOOPBACK);
		CHECK(std::memcmp(c.key.address.data(), &loopback, 4) == 0);
		CHECK(c.count == 3);
		clients.pop_back();
		const auto fewer = diag.outgoing(a.port());
		REQUIRE(fewer);
		REQUIRE(fewer->size() == 1);
		CHECK(fewer->front().count == 2);
		CHECK(outgoingConnections(a.port()).front().count == 2);

		// From a tree of files: per uid and server, not other ports nor
		// connections in another state.
		TempDir proc;
		fs::create_directories(proc.path() / "net");
		std::ofstream(proc.path() / "net/tcp")
			<< "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
			   "   0: 0100000A:A001 0200000A:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 1 1\n"
			   "   1: 0100000A:A002 0200000A:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 2 1\n"
			   "   2: 0100000A:A003 0200000A:0E30 01 00000000:00000000 00:00000000 00000000  1001        0 3 1\n"
			   "   3: 0100000A:A004 0300000A:0E30 01 00000000:00000000 00:00000000 00000000  1000        0 4 1\n"
			   "   4: 0100000A:A005 0200000A:0E31 01 00000000:00000000 00:00000000 00000000  1000        0 5 1\n"
			   "   5: 0100000A:A006 0200000A:0E30 06 00000000:00000000 00:00000000 00000000  1000        0 0 1\n";
		const auto files = outgoingConnections(3632, proc.path().string());
		REQUIRE(files.size() == 3);
		auto text = [](const OutgoingCount &c) {
			return std::to_string(c.key.uid) + "@" + std::to_string(c.key.address[3]) + ":" +
			       std::to_string(c.key.port) + "=" + std::to_string(c.count);
		};
		CHECK(text(files[0]) == "1000@2:3632=2");
		CHECK(text(files[1]) == "1000@3:3632=1");
		CHECK(text(files[2]) == "1001@2:3632=1");
	}

	TEST_CASE("the connections are counted per client address, by netlink and from the files alike")
	{
		SockDiag diag;
		REQUIRE_MESSAGE(diag.available(), "NETLINK_SOCK_DIAG refused here");
		Listener listener;
		// Clients on three loopback addresses (the whole of 127/8 is
		// loopback): 3 jobs from .2, 2 from .3, 1 from .1.
		auto from = [&](const char *address) {
			UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
			REQUIRE(c.get() >= 0);
			sockaddr_in a{};
			a.sin_family = AF_INET;
			REQUIRE(::inet_pton(AF_INET, address, &a.sin_addr) == 1);
			REQUIRE(::bind(c.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
			sockaddr_in to{};
			to.sin_family = AF_INET;
			to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			to.sin_port = htons(listener.port());
			REQUIRE(::connect(c.get(), reinterpret_cast<sockaddr *>(&to), sizeof to) == 0);
			return c;
		};
		std::vector<UniqueFd> clients;
		for (const char *address : { "127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3" })
			clients.push_back(from(address));
		clients.push_back(listener.connect());
		const std::map<std::string, std::uint32_t> expected{ { "127.0.0.1", 1 }, { "127.0.0.2", 3 }, { "127.0.0.3", 2 } };
		auto seen = diag.port(listener.port());
		REQUIRE(seen);
		CHECK(seen->established == 6);
		CHECK(seen->clients == expected);
		CHECK(portSocketsFromProc(listener.port()).clients == expected);
		// The probe hands them on with its reading, re-counted when one closes.
		LoadProbe probe(listener.port(), "/proc", { ::getuid() });
		CHECK(probe.read().clients == expected);
		clients.erase(clients.begin());
		const std::map<std::string, std::uint32_t> fewer{ { "127.0.0.1", 1 }, { "127.0.0.2", 2 }, { "127.0.0.3", 2 } };
		CHECK(probe.read().clients == fewer);
		// An IPv4 client of an IPv6 listener reads as plain IPv4, from the files too.
		TempDir proc;
		fs::create_directories(proc.path() / "net");
		std::ofstream(proc.path() / "net/tcp6")
			<< "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
			   "   0: 00000000000000000000000000000000:0E30 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 37393 1\n"
			   "   1: 0000000000000000FFFF00000100007F:0E30 0000000000000000FFFF00000300000A:A001 01 00000000:00000000 00:00000000 00000000   102        0 37400 1\n";
		const PortSockets files = portSockets(3632, proc.path().string());
		CHECK(files.clients == std::map<std::string, std::uint32_t>{ { "10.0.0.3", 1 } });
	}

	TEST_CASE("portSockets reads a tree of files when it is not the real /proc")
	{
		// The same port the files name has a real listener: the files win.
		Listener listener;
		TempDir proc;
		fs::create_directories(proc.path() / "net");
		std::ofstream(proc.path() / "net/tcp")
			<< "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
			   "   0: 0100007F:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 37393 1\n"
			   "   1: 0100007F:0E30 0100007F:A001 01 00000000:00000000 00:00000000 00000000   102        0 37400 1\n";
		const PortSockets files = portSockets(3632, proc.path().string());
		REQUIRE(files.listeners.size() == 1);
		CHECK(files.listeners.front().inode == 37393);
		CHECK(files.established == 1);
		CHECK(portSockets(listener.port(), proc.path().string()).listeners.empty());
		CHECK(portSockets(listener.port()).listeners.size() == 1);
	}

	TEST_CASE("SocketCounts move when a connection opens or closes, not otherwise")
	{
		SocketCounts counts;
		const auto before = counts.read();
		REQUIRE(before);
		Listener listener;
		const auto listening = counts.read();
		REQUIRE(listening);
		CHECK(listening != before);
		{
			UniqueFd c = listener.connect();
			const auto connected = counts.read();
			REQUIRE(connected);
			CHECK(connected != listening);
			CHECK(counts.read() == connected); // nothing happened in between
		}
		// No sockstat in a tree of files: nothing is known, nothing is reused.
		TempDir proc;
		CHECK_FALSE(SocketCounts(proc.path().string()).read());
	}

	TEST_CASE("without NETLINK_SOCK_DIAG the probes read /proc/net/tcp*, and say so once at debug level")
	{
		Listener listener;
		std::vector<UniqueFd> clients;
		clients.push_back(listener.connect());
		clients.push_back(listener.connect());
		TempDir dir;
		const fs::path logPath = dir.path() / "stderr";
		// A child, since the filter cannot be taken off again: it exits with
		// the number of the first check that failed, 0 if none did.
		const pid_t pid = ::fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			const int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (log < 0 || ::dup2(log, STDERR_FILENO) < 0)
				::_exit(10);
			if (!refuseNetlink())
				::_exit(11);
			setLogLevel(LogLevel::Debug);
			SockDiag diag;
			if (diag.available() || diag.port(listener.port()))
				::_exit(1);
			if (portSockets(listener.port()).established != 2)
				::_exit(2);
			LoadProbe probe(listener.port(), "/proc", { ::getuid() });
			for (int i = 0; i < 3; ++i) {
				const LoadReading r = probe.read();
				if (!r.listening || r.running != 2)
					::_exit(3);
			}
			::_exit(0);
		}
		int status = 0;
		REQUIRE(::waitpid(pid, &status, 0) == pid);
		REQUIRE(WIFEXITED(status));
		CHECK(WEXITSTATUS(status) == 0);
		std::ostringstream text;
		text << std::ifstream(logPath).rdbuf();
		const std::string log = text.str();
		const auto first = log.find("NETLINK_SOCK_DIAG socket");
		CHECK(first != std::string::npos);
		CHECK(log.find("Address family not supported") != std::string::npos);
		CHECK(log.find("NETLINK_SOCK_DIAG", first + 1) == std::string::npos);
	}

	TEST_CASE("LoadProbe on the real /proc follows connections through the socket counts")
	{
		Listener listener;
		LoadProbe probe(listener.port(), "/proc", { ::getuid() });
		CHECK(probe.read().running == 0);
		std::vector<UniqueFd> clients;
		for (int k = 1; k <= 4; ++k) {
			clients.push_back(listener.connect());
			CHECK(probe.read().running == static_cast<std::uint32_t>(k));
		}
		CHECK(probe.read().running == 4); // unchanged counts: the last walk's
		// The server ends one: seen at the next reading (it is orphaned).
		{
			UniqueFd served(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
			REQUIRE(served.get() >= 0);
		}
		CHECK(probe.read().running == 3);
		// The clients close first: the server ends go to CLOSE_WAIT, which
		// no socket count shows, but the client ends are this host's too
		// and orphaned, which moves the counts.
		clients.clear();
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
		LoadReading idle = probe.read();
		for (int i = 0; i < 600 && idle.running != 0 && std::chrono::steady_clock::now() < deadline; ++i) {
			::usleep(10000);
			idle = probe.read();
		}
		CHECK(idle.listening);
		CHECK(idle.running == 0);
		// The legacy way reads the same.
		clients.push_back(listener.connect());
		CHECK(LoadProbe(listener.port(), "/proc", { ::getuid() }, true).read().running == 1);
		CHECK(probe.read().running == 1);
	}
}

// The gossip UDP socket: exchange over IPv4, IPv6 and dual-stack, size limits, bursts, rebinding, address helpers.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "adapter/support.h"
#include "uv/handle.h"
#include "uv/udp.h"

using namespace std::chrono_literals;
namespace uv = dmdns::uv;
using dmdns::test::Fd;
using dmdns::test::runFor;
using dmdns::test::runUntilStopped;

namespace {

using Bytes = std::vector<std::uint8_t>;
using Data = std::span<const std::uint8_t>;

struct Datagram {
	Bytes data;
	std::string from;
};

Bytes bytes(std::string_view text)
{
	return Bytes(text.begin(), text.end());
}

sockaddr_storage address(const std::string &host, std::uint16_t port)
{
	const auto resolved = uv::resolveNumeric(host, port);
	REQUIRE(resolved);
	return *resolved;
}

// Sends "ping" from a socket on @host to another there, which answers
// "pong" to whatever address the ping came from.
void pingPong(const std::string &host)
{
	uv::Loop loop;
	std::vector<Datagram> atA, atB;
	std::unique_ptr<uv::Udp> b;
	uv::Udp a(loop.get(), [&](Data data, const sockaddr_storage &from) {
		atA.push_back({ Bytes(data.begin(), data.end()), uv::toString(from) });
		loop.stop();
	});
	b = std::make_unique<uv::Udp>(loop.get(), [&](Data data, const sockaddr_storage &from) {
		atB.push_back({ Bytes(data.begin(), data.end()), uv::toString(from) });
		CHECK(b->send(from, bytes("pong")));
	});
	a.bind(host, 0);
	b->bind(host, 0);
	CHECK(a.localPort() != 0);
	CHECK(a.localPort() != b->localPort());
	CHECK(a.send(address(host, b->localPort()), bytes("ping")));
	REQUIRE(runUntilStopped(loop));
	REQUIRE(atB.size() == 1);
	REQUIRE(atA.size() == 1);
	CHECK(atB[0].data == bytes("ping"));
	CHECK(atA[0].data == bytes("pong"));
	CHECK(atB[0].from == uv::toString(address(host, a.localPort())));
	CHECK(atA[0].from == uv::toString(address(host, b->localPort())));
	CHECK(a.counters().sent == 1);
	CHECK(a.counters().received == 1);
	CHECK(b->counters().sent == 1);
	CHECK(b->counters().received == 1);
	CHECK(a.counters().failed + b->counters().failed == 0);
	CHECK(a.counters().oversized + b->counters().oversized == 0);
}

// A plain blocking socket, as a foreign sender that Udp's limits do not bind.
Fd rawSocket(int family)
{
	Fd fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (fd.get() < 0)
		dmdns::test::fail("socket");
	return fd;
}

void rawSend(const Fd &fd, const sockaddr_storage &to, const Bytes &data)
{
	const socklen_t length = to.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
	const ssize_t n =
		::sendto(fd.get(), data.data(), data.size(), 0, reinterpret_cast<const sockaddr *>(&to), length);
	REQUIRE(n == static_cast<ssize_t>(data.size()));
}

} // namespace

TEST_SUITE("uv_udp")
{
	TEST_CASE("two sockets exchange datagrams over 127.0.0.1")
	{
		pingPong("127.0.0.1");
	}

	TEST_CASE("oversized and truncated datagrams are counted and dropped, the rest passed on whole")
	{
		uv::Loop loop;
		std::vector<Bytes> got;
		uv::Udp udp(loop.get(), [&](std::span<const std::uint8_t> data, const sockaddr_storage &) {
			got.emplace_back(data.begin(), data.end());
			if (data.size() == 3)
				loop.stop();
		});
		udp.bind("127.0.0.1", 0);
		const sockaddr_storage to = address("127.0.0.1", udp.localPort());
		const Fd raw = rawSocket(AF_INET);
		rawSend(raw, to, Bytes(uv::kMaxDatagram + 1, 0xab));
		rawSend(raw, to, Bytes(uv::kMaxDatagram, 0x01));
		rawSend(raw, to, Bytes(60000, 0xcd));
		rawSend(raw, to, Bytes());
		rawSend(raw, to, bytes("end"));
		// Loopback keeps one sender's datagrams in order: "end" comes last.
		REQUIRE(runUntilStopped(loop));
		REQUIRE(got.size() == 3);
		CHECK(got[0] == Bytes(uv::kMaxDatagram, 0x01));
		CHECK(got[1].empty());
		CHECK(got[2] == bytes("end"));
		CHECK(udp.counters().oversized == 2);
		CHECK(udp.counters().received == 3);
		CHECK(udp.counters().failed == 0);
	}

	TEST_CASE("send refuses what a peer would drop, and misuse")
	{
		uv::Loop loop;
		uv::Udp udp(loop.get(), {});
		CHECK_THROWS_AS(udp.localPort(), std::system_error);
		CHECK_THROWS_AS(udp.send(address("127.0.0.1", 9), bytes("x")), std::logic_error);
		CHECK_THROWS_AS(udp.bind("localhost", 0), std::invalid_argument);
		udp.bind("127.0.0.1", 0);
		CHECK_THROWS_AS(udp.send(address("127.0.0.1", 9), Bytes(uv::kMaxDatagram + 1)), std::length_error);
		CHECK(udp.counters().sent == 0);
		// An IPv6 destination from an IPv4 socket fails at once and is counted.
		CHECK_FALSE(udp.send(address("::1", 9), bytes("x")));
		CHECK(udp.counters().failed == 1);
		udp.close();
		CHECK_FALSE(udp.send(address("127.0.0.1", 9), bytes("x")));
		CHECK(udp.counters().failed == 1);
		CHECK(udp.sendQueueCount() == 0);
		CHECK_THROWS_AS(udp.localPort(), std::logic_error);
	}

	TEST_CASE("a socket that fails to bind goes inert")
	{
		uv::Loop loop;
		uv::Udp holder(loop.get(), {});
		holder.bind("127.0.0.1", 0);
		uv::Udp udp(loop.get(), {});
		CHECK_THROWS_AS(udp.bind("127.0.0.1", holder.localPort()), std::system_error);
		CHECK(udp.closed());
	}

	TEST_CASE("thousands of datagrams arrive whole and in order")
	{
		constexpr std::uint32_t total = 5000;
		// The receiver's socket buffer holds a window, not the whole burst.
		constexpr std::uint32_t window = 64;
		uv::Loop loop;
		std::uint32_t next = 0, expected = 0;
		bool ordered = true;
		std::unique_ptr<uv::Udp> sender;
		sockaddr_storage to{};
		const auto sendWindow = [&] {
			for (std::uint32_t i = 0; i < window && next < total; ++i, ++next) {
				Bytes datagram(100 + next % 1300, static_cast<std::uint8_t>(next));
				std::memcpy(datagram.data(), &next, sizeof(next));
				REQUIRE(sender->send(to, std::move(datagram)));
			}
		};
		uv::Udp receiver(loop.get(), [&](std::span<const std::uint8_t> data, const sockaddr_storage &) {
			std::uint32_t seq = 0;
			std::memcpy(&seq, data.data(), sizeof(seq));
			ordered = ordered && seq == expected && data.size() == 100 + seq % 1300 &&
				  data.back() == static_cast<std::uint8_t>(seq);
			++expected;
			if (expected == total)
				loop.stop();
			else if (expected == next)
				sendWindow();
		});
		sender = std::make_unique<uv::Udp>(loop.get(), uv::Udp::OnDatagram{});
		receiver.bind("127.0.0.1", 0);
		sender->bind("127.0.0.1", 0);
		to = address("127.0.0.1", receiver.localPort());
		sendWindow();
		REQUIRE(runUntilStopped(loop, 20s));
		CHECK(ordered);
		CHECK(expected == total);
		CHECK(receiver.counters().received == total);
		// Counted when the kernel took them, at once or after queueing.
		CHECK(sender->counters().sent == total);
		CHECK(sender->counters().failed == 0);
		CHECK(sender->sendQueueCount() == 0);
	}

	TEST_CASE("a closed or destroyed socket's port is free at once; a live one's is not")
	{
		uv::Loop loop;
		auto first = std::make_unique<uv::Udp>(loop.get(), uv::Udp::OnDatagram{});
		first->bind("127.0.0.1", 0);
		const std::uint16_t port = first->localPort();
		// No SO_REUSEADDR: a second daemon cannot silently share the port.
		try {
			uv::Udp second(loop.get(), {});
			second.bind("127.0.0.1", port);
			FAIL("bound a port that a live socket holds");
		} catch (const std::system_error &e) {
			CHECK(e.code().value() == EADDRINUSE);
		}

		first->close();
		// Without running the loop: uv_close released the socket already.
		int got = 0;
		auto again = std::make_unique<uv::Udp>(loop.get(), [&](Data, const sockaddr_storage &) {
			++got;
			loop.stop();
		});
		again->bind("127.0.0.1", port);
		CHECK(again->localPort() == port);
		uv::Udp sender(loop.get(), {});
		sender.bind("127.0.0.1", 0);
		CHECK(sender.send(address("127.0.0.1", port), bytes("x")));
		REQUIRE(runUntilStopped(loop));
		CHECK(got == 1);

		again.reset();
		uv::Udp third(loop.get(), {});
		third.bind("127.0.0.1", port);
		CHECK(third.localPort() == port);
	}

	TEST_CASE("a socket may be destroyed from inside its own callback")
	{
		uv::Loop loop;
		std::unique_ptr<uv::Udp> udp;
		int got = 0;
		udp = std::make_unique<uv::Udp>(loop.get(), [&](Data, const sockaddr_storage &) {
			++got;
			udp.reset();
		});
		udp->bind("127.0.0.1", 0);
		const sockaddr_storage to = address("127.0.0.1", udp->localPort());
		const Fd raw = rawSocket(AF_INET);
		// Several queued: libuv must not read on into a destroyed owner.
		for (int i = 0; i < 5; ++i)
			rawSend(raw, to, bytes("x"));
		runFor(loop, 200ms);
		CHECK(got == 1);
		CHECK_FALSE(udp);
	}

	TEST_CASE("a callback that throws is logged, and the socket carries on")
	{
		uv::Loop loop;
		int got = 0;
		uv::Udp udp(loop.get(), [&](Data, const sockaddr_storage &) {
			if (++got == 2)
				loop.stop();
			throw std::runtime_error("expected by the test");
		});
		udp.bind("127.0.0.1", 0);
		const Fd raw = rawSocket(AF_INET);
		rawSend(raw, address("127.0.0.1", udp.localPort()), bytes("a"));
		rawSend(raw, address("127.0.0.1", udp.localPort()), bytes("b"));
		REQUIRE(runUntilStopped(loop));
		CHECK(got == 2);
	}

	TEST_CASE("resolveNumeric and toString round trip numeric addresses")
	{
		const unsigned lo = ::if_nametoindex("lo");
		struct Case {
			std::string address;
			std::uint16_t port;
			std::string text;
		};
		std::vector<Case> cases{
			{ "1.2.3.4", 3632, "1.2.3.4:3632" },
			{ "0.0.0.0", 0, "0.0.0.0:0" },
			{ "255.255.255.255", 65535, "255.255.255.255:65535" },
			{ "::1", 3632, "[::1]:3632" },
			{ "::", 1, "[::]:1" },
			{ "2001:DB8::1", 3632, "[2001:db8::1]:3632" },
			{ "::ffff:1.2.3.4", 5, "[::ffff:1.2.3.4]:5" },
			{ "fe80::1%2", 3632, "[fe80::1%2]:3632" },
		};
		if (lo != 0)
			cases.push_back({ "fe80::1%lo", 3632, "[fe80::1%" + std::to_string(lo) + "]:3632" });
		for (const Case &c : cases) {
			CAPTURE(c.address);
			const auto resolved = uv::resolveNumeric(c.address, c.port);
			REQUIRE(resolved);
			CHECK(uv::toString(*resolved) == c.text);
			// The address part of the text resolves to the same socket address.
			const std::string host = c.text.front() == '['
							 ? c.text.substr(1, c.text.find(']') - 1)
							 : c.text.substr(0, c.text.rfind(':'));
			const auto again = uv::resolveNumeric(host, c.port);
			REQUIRE(again);
			CHECK(again->ss_family == resolved->ss_family);
			CHECK(std::memcmp(&*again, &*resolved, sizeof(sockaddr_storage)) == 0);
		}
		const auto v6 = uv::resolveNumeric("fe80::1%7", 1);
		REQUIRE(v6);
		CHECK(reinterpret_cast<const sockaddr_in6 &>(*v6).sin6_scope_id == 7);

		sockaddr_storage unknown{};
		unknown.ss_family = AF_UNIX;
		CHECK(uv::toString(unknown) == "(family " + std::to_string(AF_UNIX) + ")");
	}

	TEST_CASE("resolveNumeric never resolves names and refuses loose forms")
	{
		for (const std::string &bad : std::vector<std::string>{
			     "localhost", "example.com", "ip6-localhost", "", " ", "127.1", "0x7f.0.0.1", "1",
			     "01.2.3.4", "1.2.3.4.5", "256.1.1.1", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4:80", "[::1]",
			     "[::1]:3632", ":::", "fe80::1%", "fe80::1%nosuchinterface", "fe80::1%99999999999",
			     "fe80::1%averyveryverylongname", "1.2.3.4%lo", std::string("::1\0junk", 8),
			     std::string("1.2.3.4\0", 8) }) {
			CAPTURE(bad);
			CHECK_FALSE(uv::resolveNumeric(bad, 3632));
		}
	}
}

// Needs an IPv6 loopback: tests/adapter/main.cpp exits 77 (skipped) for
// this suite where there is none, so that the skip shows.
TEST_SUITE("uv_udp_ipv6")
{
	TEST_CASE("two sockets exchange datagrams over ::1")
	{
		pingPong("::1");
	}

	TEST_CASE("a dual-stack socket on :: talks to IPv4 peers under their IPv4 address")
	{
		uv::Loop loop;
		std::vector<Datagram> atV4, atAny;
		std::unique_ptr<uv::Udp> any;
		uv::Udp v4(loop.get(), [&](Data data, const sockaddr_storage &from) {
			atV4.push_back({ Bytes(data.begin(), data.end()), uv::toString(from) });
			loop.stop();
		});
		any = std::make_unique<uv::Udp>(loop.get(), [&](Data data, const sockaddr_storage &from) {
			atAny.push_back({ Bytes(data.begin(), data.end()), uv::toString(from) });
			// An AF_INET destination on an IPv6 socket.
			CHECK(from.ss_family == AF_INET);
			CHECK(any->send(from, bytes("back")));
		});
		v4.bind("127.0.0.1", 0);
		any->bind("::", 0);
		CHECK(v4.send(address("127.0.0.1", any->localPort()), bytes("hello")));
		REQUIRE(runUntilStopped(loop));
		REQUIRE(atAny.size() == 1);
		// Not [::ffff:127.0.0.1]:port: one peer, one address.
		CHECK(atAny[0].from == "127.0.0.1:" + std::to_string(v4.localPort()));
		REQUIRE(atV4.size() == 1);
		CHECK(atV4[0].data == bytes("back"));
		CHECK(atV4[0].from == "127.0.0.1:" + std::to_string(any->localPort()));
	}
}

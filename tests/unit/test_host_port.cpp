// Unit tests of readHostPort: HOST:PORT and [IPV6]:PORT without IPv6 ambiguity.
#include <doctest/doctest.h>

#include <string>

#include "distcc-mdns/host_port.h"
#include "distcc-mdns/text.h"

using namespace dmdns;

namespace {

HostPort parsed(std::string_view text, std::optional<std::uint16_t> defaultPort = 3632)
{
	const HostPortParse p = readHostPort(text, defaultPort);
	INFO(std::string(text), " ", p.error);
	REQUIRE(p.hostPort);
	CHECK(p.error.empty());
	return *p.hostPort;
}

std::string refused(std::string_view text, std::optional<std::uint16_t> defaultPort = 3632)
{
	const HostPortParse p = readHostPort(text, defaultPort);
	CHECK_MESSAGE(!p.hostPort, std::string(text));
	CHECK_MESSAGE(!p.error.empty(), std::string(text));
	return p.error;
}

} // namespace

TEST_SUITE("host_port")
{
	TEST_CASE("host names and IPv4 addresses, with a port or the default")
	{
		CHECK(parsed("10.1.2.3:4000") == HostPort{ "10.1.2.3", 4000 });
		CHECK(parsed("10.1.2.3") == HostPort{ "10.1.2.3", 3632 });
		CHECK(parsed("build-7.example:1") == HostPort{ "build-7.example", 1 });
		CHECK(parsed("build_7") == HostPort{ "build_7", 3632 });
		CHECK(parsed("h1:65535") == HostPort{ "h1", 65535 });
	}

	TEST_CASE("IPv6 in brackets, with a port, a scope, or neither")
	{
		CHECK(parsed("[::1]:3633") == HostPort{ "::1", 3633 });
		CHECK(parsed("[2001:db8::1:2]:80") == HostPort{ "2001:db8::1:2", 80 });
		CHECK(parsed("[fe80::1%eth0]:4000") == HostPort{ "fe80::1%eth0", 4000 });
		CHECK(parsed("[fe80::1%3]:4000") == HostPort{ "fe80::1%3", 4000 });
		CHECK(parsed("[fe80::1]") == HostPort{ "fe80::1", 3632 });
		CHECK(parsed("[::ffff:10.0.0.2]:9") == HostPort{ "::ffff:10.0.0.2", 9 });
	}

	TEST_CASE("a bare IPv6 address has the default port, and needs one")
	{
		CHECK(parsed("2001:db8::7") == HostPort{ "2001:db8::7", 3632 });
		CHECK(parsed("::1") == HostPort{ "::1", 3632 });
		CHECK(parsed("fe80::1%eth0") == HostPort{ "fe80::1%eth0", 3632 });
		CHECK(parsed("1:2:3:4:5:6:7:8") == HostPort{ "1:2:3:4:5:6:7:8", 3632 });
		CHECK(refused("2001:db8::7", std::nullopt).find("port is required") != std::string::npos);
		CHECK(parsed("[2001:db8::7]:3632", std::nullopt) == HostPort{ "2001:db8::7", 3632 });
	}

	TEST_CASE("an IPv6 address whose last group reads as a port is refused, not guessed")
	{
		// fe80::1 port 3632, or the address fe80::1:3632? Both are valid.
		CHECK(refused("fe80::1:3632").find("ambiguous") != std::string::npos);
		CHECK(refused("::1:3632").find("ambiguous") != std::string::npos);
		CHECK(refused("2001:db8::1:80", std::nullopt).find("ambiguous") != std::string::npos);
		// A port after a scope or a full address needs brackets too.
		CHECK(refused("fe80::1%eth0:3632").find("[IPV6]:PORT") != std::string::npos);
		CHECK(refused("1:2:3:4:5:6:7:8:3632").find("[IPV6]:PORT") != std::string::npos);
		// The bracketed forms say which one is meant.
		CHECK(parsed("[fe80::1]:3632") == HostPort{ "fe80::1", 3632 });
		CHECK(parsed("[fe80::1:3632]") == HostPort{ "fe80::1:3632", 3632 });
	}

	TEST_CASE("bad ports are refused")
	{
		for (const char *bad : { "host:", "host:0", "host:65536", "host:99999", "host:x", "host:-1", "host:+80",
					 "host: 80", "host:80 ", "[::1]:", "[::1]:0", "[::1]:65536", "[::1]x", "[::1]:80:81",
					 "host:123456789012345678901234" })
			CHECK_MESSAGE(refused(bad).size() > 0, bad);
		CHECK(refused("h:0").find("1 to 65535") != std::string::npos);
	}

	TEST_CASE("bad hosts and stray brackets are refused")
	{
		for (const char *bad : { "", ":4000", "[]:1", "[::1", "::1]", "[10.0.0.1]:80", "[name]:80", "a b", "a/b",
					 "a@b", "-host", ".host", "h\xc3\xb6st",
					 "[fe80::1%]:1", "[fe80::1%eth/0]:1", "[fe80::1%0123456789abcdef]:1", "1:2:3",
					 "fe80::g", "[::1]]:80", "[[::1]]:80", "host:80]" })
			CHECK_MESSAGE(refused(bad).size() > 0, bad);
		// The NUL inside the text counts, not only up to it.
		CHECK_FALSE(readHostPort(std::string_view("a\0b", 3), 1).hostPort);
	}

	TEST_CASE("addresses that name no one host, and numbers that are no address, are refused")
	{
		// Each read as a host by the resolver before: --peer=:: gossiped
		// to nobody, --peer=10.1 to 10.0.0.1.
		for (const char *bad : { "::", "[::]:5", "[::]", "::%eth0", "0.0.0.0", "0.0.0.0:3632", "ff02::fb",
					 "[ff02::1%eth0]:3632", "224.0.0.251", "239.1.2.3:9", "255.255.255.255", "10.1",
					 "1.2.3", "999.1.1.1", "10.0.0.256:80", "1.2.3.4.5", "10", "010.1.2.3", "..." })
			CHECK_MESSAGE(refused(bad).size() > 0, bad);
		CHECK(refused("::").find("any address") != std::string::npos);
		CHECK(refused("0.0.0.0").find("any address") != std::string::npos);
		CHECK(refused("224.0.0.251").find("multicast") != std::string::npos);
		CHECK(refused("999.1.1.1").find("not an IPv4 address") != std::string::npos);
		// Their neighbours are hosts.
		CHECK(parsed("::2") == HostPort{ "::2", 3632 });
		CHECK(parsed("0.0.0.1") == HostPort{ "0.0.0.1", 3632 });
		CHECK(parsed("223.255.255.254:1") == HostPort{ "223.255.255.254", 1 });
		CHECK(parsed("240.0.0.1") == HostPort{ "240.0.0.1", 3632 });
		CHECK(parsed("fe02::1") == HostPort{ "fe02::1", 3632 });
		CHECK(parsed("10.1.example") == HostPort{ "10.1.example", 3632 });
		CHECK(parsed("10-1") == HostPort{ "10-1", 3632 });
	}

	TEST_CASE("overlong input is refused before it is looked at")
	{
		const std::string name(253, 'a');
		CHECK(parsed(name + ":1") == HostPort{ name, 1 });
		CHECK(refused(std::string(254, 'a')).size() > 0);
		const std::string tooLong(kMaxHostPortText + 1, 'a');
		CHECK(refused(tooLong).find("longer than") != std::string::npos);
		CHECK(refused("[" + std::string(400, ':') + "]:1").find("longer than") != std::string::npos);
	}

	TEST_CASE("formatHostPort writes what readHostPort reads back")
	{
		for (const HostPort &e : { HostPort{ "10.0.0.2", 3632 }, HostPort{ "fe80::1:3632", 1 },
					   HostPort{ "fe80::1%eth0", 3632 }, HostPort{ "build-7", 65535 } })
			CHECK(parsed(formatHostPort(e), std::nullopt) == e);
		CHECK(formatHostPort({ "fe80::1", 3632 }) == "[fe80::1]:3632");
		CHECK(formatHostPort({ "h", 1 }) == "h:1");
	}
}

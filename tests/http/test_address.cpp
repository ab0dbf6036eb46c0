// --http=[ADDR:]PORT and the Host names the server answers to.
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "http/address.h"

using namespace dmdns::http;

namespace {

ListenAddress good(const char *text)
{
	auto r = parseListenAddress(text);
	REQUIRE_MESSAGE(std::holds_alternative<ListenAddress>(r), text);
	return std::get<ListenAddress>(r);
}

std::string bad(const char *text)
{
	auto r = parseListenAddress(text);
	REQUIRE_MESSAGE(std::holds_alternative<std::string>(r), text);
	return std::get<std::string>(r);
}

} // namespace

TEST_SUITE("address")
{
	TEST_CASE("a bare port listens on loopback only")
	{
		const ListenAddress a = good("8080");
		CHECK(a.address == "127.0.0.1");
		CHECK(a.port == 8080);
	}

	TEST_CASE("an address is numeric IPv4 or bracketed IPv6")
	{
		CHECK(good("0.0.0.0:9100").address == "0.0.0.0");
		CHECK(good("10.1.2.3:1").port == 1);
		CHECK(good("[::1]:65535").address == "::1");
		CHECK(good("[::]:80").address == "::");
		CHECK(joinAddress("::1", 80) == "[::1]:80");
		CHECK(joinAddress("10.0.0.1", 80) == "10.0.0.1:80");
	}

	TEST_CASE("errors say what is wrong")
	{
		CHECK(bad("").find("port") != std::string::npos);
		CHECK(bad("0").find("1 to 65535") != std::string::npos);
		CHECK(bad("65536").find("1 to 65535") != std::string::npos);
		CHECK(bad("80x").find("port") != std::string::npos);
		CHECK(bad("localhost:80").find("not a numeric IPv4") != std::string::npos);
		CHECK(bad("::1:80").find("[ADDR]:PORT") != std::string::npos);
		CHECK(bad("[::1]").find("[ADDR]:PORT") != std::string::npos);
		CHECK(bad("[fe80::zz]:80").find("IPv6") != std::string::npos);
		CHECK(bad("1.2.3.4:").find("port") != std::string::npos);
		CHECK(bad("1.2.3.4:-1").find("port") != std::string::npos);
	}

	TEST_CASE("Host: addresses, localhost and this machine's name; not another site's")
	{
		CHECK(hostAllowed("127.0.0.1:8080", "s1"));
		CHECK(hostAllowed("10.0.0.11", "s1"));
		CHECK(hostAllowed("[::1]:8080", "s1"));
		CHECK(hostAllowed("localhost:8080", "s1"));
		CHECK(hostAllowed("LOCALHOST", "s1"));
		CHECK(hostAllowed("s1:8080", "s1"));
		CHECK(hostAllowed("S1.local:8080", "s1"));
		CHECK(hostAllowed("s1.example.org", "s1"));
		CHECK(hostAllowed("", "s1")); // HTTP/1.0 scripts; browsers always send Host
		CHECK_FALSE(hostAllowed("evil.example.com:8080", "s1"));
		CHECK_FALSE(hostAllowed("s10:8080", "s1"));
		CHECK_FALSE(hostAllowed("[evil]:80", "s1"));
		CHECK_FALSE(hostAllowed(":80", "s1"));
		CHECK_FALSE(hostAllowed("anything", ""));
	}
}

// Unit tests of the distcc hosts-line writer and parser.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "distcc-mdns/hosts_line.h"

using namespace dmdns;

namespace {

HostSpec tcp(std::string host, std::uint16_t port = kDistccPort, std::optional<std::uint32_t> limit = {})
{
	HostSpec s;
	s.host = std::move(host);
	s.port = port;
	s.limit = limit;
	return s;
}

HostSpec local(std::optional<std::uint32_t> limit)
{
	HostSpec s;
	s.kind = HostSpec::Kind::Local;
	s.limit = limit;
	return s;
}

HostsLine parsed(std::string_view text)
{
	const HostsLineParse p = parseHostsLine(text);
	INFO(text, " -> ", p.error);
	REQUIRE(p.line);
	return *p.line;
}

std::string errorOf(std::string_view text)
{
	const HostsLineParse p = parseHostsLine(text);
	CHECK_FALSE(p.line);
	return p.error;
}

} // namespace

TEST_SUITE("hosts_line")
{
	TEST_CASE("the writer follows distcc's grammar")
	{
		HostsLine line;
		HostSpec a = tcp("192.0.2.10", kDistccPort, 8);
		HostSpec b = tcp("2001:db8::7", 3700, 4);
		b.lzo = true;
		b.cpp = true;
		HostSpec c = tcp("fe80::1%eth0");
		line.hosts = { a, b, c, local(2) };
		CHECK(writeHostsLine(line) == "192.0.2.10/8 [2001:db8::7]:3700/4,lzo,cpp [fe80::1%eth0] localhost/2");

		line.randomize = true;
		line.localSlots = 3;
		line.localSlotsCpp = 12;
		CHECK(writeHostsLine(line).starts_with("--randomize --localslots=3 --localslots_cpp=12 192.0.2.10/8"));
	}

	TEST_CASE("a TCP host named localhost keeps its port so distcc does not run it locally")
	{
		HostsLine line;
		line.hosts = { tcp("localhost", kDistccPort, 2) };
		CHECK(writeHostsLine(line) == "localhost:3632/2");
		CHECK(parsed("localhost:3632/2") == line);
		CHECK(parsed("localhost/2").hosts.at(0).kind == HostSpec::Kind::Local);
	}

	TEST_CASE("the parser reads every form of distcc 3.4's grammar")
	{
		const HostsLine line = parsed(
			"# build farm\n"
			"  --randomize fast.example/16,lzo   # the big one\n"
			"192.0.2.1:4000/3 192.0.2.2/5:4001 [::1]:3633 [fe80::2%3]/2,lzo,cpp\n"
			"alice@ssh.example/2:/opt/distcc/bin/distccd,lzo @plain.example\n"
			"tcp.example,auth tcp2.example,auth=gss +zeroconf\n"
			"\t--localslots=4 --localslots_cpp/9 localhost/3 localhost");
		CHECK(line.randomize);
		CHECK(line.localSlots == 4u);
		CHECK(line.localSlotsCpp == 9u);
		REQUIRE(line.hosts.size() == 12);
		const auto &h = line.hosts;
		CHECK(h[0].host == "fast.example");
		CHECK(h[0].limit == 16u);
		CHECK(h[0].lzo);
		CHECK(h[1].port == 4000);
		CHECK(h[1].limit == 3u);
		CHECK(h[2].port == 4001); // old style: limit before port
		CHECK(h[2].limit == 5u);
		CHECK(h[3].host == "::1");
		CHECK(h[3].port == 3633);
		CHECK(h[4].host == "fe80::2%3");
		CHECK(h[4].cpp);
		CHECK(h[5].kind == HostSpec::Kind::Ssh);
		CHECK(h[5].user == "alice");
		CHECK(h[5].host == "ssh.example");
		CHECK(h[5].limit == 2u);
		CHECK(h[5].command == "/opt/distcc/bin/distccd");
		CHECK(h[5].lzo);
		CHECK(h[6].kind == HostSpec::Kind::Ssh);
		CHECK(h[6].user.empty());
		CHECK(h[7].auth == std::string());
		CHECK(h[8].auth == std::string("gss"));
		CHECK(h[9].kind == HostSpec::Kind::Zeroconf);
		CHECK(h[10].kind == HostSpec::Kind::Local);
		CHECK(h[10].limit == 3u);
		CHECK(h[10].effectiveLimit() == 3);
		CHECK(h[11].kind == HostSpec::Kind::Local);
		CHECK_FALSE(h[11].limit);
	}

	TEST_CASE("default limits are distcc's: 4 per host, 2 for localhost")
	{
		const HostsLine line = parsed("a.example localhost");
		CHECK(line.hosts.at(0).effectiveLimit() == 4);
		CHECK(line.hosts.at(1).effectiveLimit() == 2);
	}

	TEST_CASE("an empty list or one of comments parses to no hosts")
	{
		CHECK(parsed("").hosts.empty());
		CHECK(parsed("  # nothing here\n\t").hosts.empty());
	}

	TEST_CASE("bad specifications are refused with a reason and position")
	{
		CHECK(errorOf("a.example,cpp").find("requires compression") != std::string::npos);
		CHECK(errorOf("a.example,zstd").find("unknown option") != std::string::npos);
		CHECK(errorOf("a.example:0").find("port") != std::string::npos);
		CHECK(errorOf("a.example:65536").find("port") != std::string::npos);
		CHECK(errorOf("a.example:http").find("port") != std::string::npos);
		CHECK(errorOf("a.example/0").find("limit") != std::string::npos);
		CHECK(errorOf("a.example/-1").find("limit") != std::string::npos);
		CHECK(errorOf("a.example/4/5").find("unexpected") != std::string::npos);
		CHECK(errorOf("[2001:db8::1").find("closing") != std::string::npos);
		CHECK(errorOf("[not-v6]").find("IPv6") != std::string::npos);
		CHECK(errorOf("localhost/x").find("limit") != std::string::npos);
		CHECK(errorOf("localhost/2,lzo").find("unexpected") != std::string::npos);
		CHECK(errorOf("--localslots=0").find("localslots") != std::string::npos);
		CHECK_FALSE(errorOf("bad!host").empty());
		CHECK_FALSE(errorOf("-rf").empty());
		CHECK_FALSE(errorOf(std::string("a\0b", 3)).empty());
		CHECK_FALSE(errorOf(std::string(kMaxHostsLineBytes + 1, 'a')).empty());

		const HostsLineParse p = parseHostsLine("good.example  bad,xyz");
		CHECK(p.errorOffset == 14);
		CHECK(p.error.find("bad,xyz") != std::string::npos);
	}

	TEST_CASE("the number of hosts is bounded")
	{
		std::string text;
		for (std::size_t i = 0; i <= kMaxHostSpecs; ++i)
			text += "h" + std::to_string(i) + " ";
		CHECK(errorOf(text).find("more than") != std::string::npos);
	}

	TEST_CASE("the writer refuses entries distcc would misread")
	{
		HostsLine line;
		line.hosts = { tcp("two words") };
		CHECK_THROWS_AS(writeHostsLine(line), std::invalid_argument);
		line.hosts = { tcp("a.example") };
		line.hosts[0].cpp = true;
		CHECK_THROWS_AS(writeHostsLine(line), std::invalid_argument);
		line.hosts = { local(0) };
		CHECK_THROWS_AS(writeHostsLine(line), std::invalid_argument);
		line.hosts = { local(2) };
		line.hosts[0].lzo = true;
		CHECK_THROWS_AS(writeHostsLine(line), std::invalid_argument);
		line.hosts = { tcp("a@b") };
		CHECK_THROWS_AS(writeHostsLine(line), std::invalid_argument);
	}

	TEST_CASE("hostSpecFor brackets nothing itself and keeps link-local scope")
	{
		HostSpec v4 = hostSpecFor(*Address::parse("192.0.2.9"), kDistccPort, 6, false, false);
		HostSpec v6 = hostSpecFor(*Address::parse("fe80::9", 4), 3700, 2, true, true);
		HostsLine line;
		line.hosts = { v4, v6 };
		CHECK(writeHostsLine(line) == "192.0.2.9/6 [fe80::9%4]:3700/2,lzo,cpp");
	}

	TEST_CASE("every written line parses back to the same hosts")
	{
		std::mt19937 rng(3);
		const char *names[] = { "a.example", "build-7", "10.1.2.3", "2001:db8::42", "::1",
					"fe80::1%2", "localhost" };
		for (int round = 0; round < 500; ++round) {
			HostsLine line;
			line.randomize = rng() % 2;
			if (rng() % 3 == 0)
				line.localSlots = 1 + rng() % 64;
			if (rng() % 3 == 0)
				line.localSlotsCpp = 1 + rng() % 64;
			const int n = static_cast<int>(rng() % 8);
			for (int i = 0; i < n; ++i) {
				HostSpec s;
				switch (rng() % 6) {
				case 0:
					s = local(rng() % 2 ? std::optional<std::uint32_t>(1 + rng() % 16) : std::nullopt);
					break;
				case 1:
					s.kind = HostSpec::Kind::Ssh;
					s.user = rng() % 2 ? "bob" : "";
					s.host = "ssh.example";
					if (rng() % 2)
						s.command = "/usr/bin/distccd";
					break;
				default:
					s = tcp(names[rng() % std::size(names)],
						rng() % 2 ? kDistccPort : static_cast<std::uint16_t>(1 + rng() % 65535));
				}
				if (s.kind != HostSpec::Kind::Local) {
					if (rng() % 2)
						s.limit = 1 + rng() % kMaxHostLimit;
					s.lzo = rng() % 2;
					s.cpp = s.lzo && rng() % 2;
					if (rng() % 4 == 0)
						s.auth = rng() % 2 ? "" : "gss";
				}
				line.hosts.push_back(s);
			}
			const std::string text = writeHostsLine(line);
			INFO(text);
			CHECK(parsed(text) == line);
		}
	}
}

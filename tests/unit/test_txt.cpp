// Unit tests of the TXT schema: stock compatibility, hostile values, subtype.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "distcc-mdns/txt.h"

using namespace dmdns;

namespace {

Server sampleServer()
{
	Server s;
	s.id = "build-01";
	s.cpus = 16;
	s.slots = 18;
	s.speed = 1.25;
	s.state = ServerState::Drain;
	s.lzo = true;
	s.cpp = true;
	s.compilers = { { "x86_64-linux-gnu", "12" }, { "aarch64-linux-gnu", "12" }, { "x86_64-pc-linux-gnu", "14.0.6" } };
	s.sample = LoadSample{ .running = 7, .runnable = 3.5, .incarnation = 1732750000, .sequence = 42 };
	return s;
}

bool hasProblem(const TxtDecoded &d, const std::string &key)
{
	return std::any_of(d.problems.begin(), d.problems.end(),
			   [&](const TxtProblem &p) { return p.key == key; });
}

const std::vector<std::string> kStock = {
	"txtvers=1",
	"cpus=2",
	"jobs=4",
	"distcc=3.4",
	"gnuhost=x86_64-pc-linux-gnu",
	"cc_version=12",
	"cc_machine=x86_64-linux-gnu",
};

} // namespace

TEST_SUITE("txt")
{
	TEST_CASE("a stock distccd --zeroconf TXT decodes to a usable record with unknown load")
	{
		const TxtDecoded d = decodeTxt(kStock);
		CHECK(d.usable);
		CHECK_FALSE(d.ours);
		CHECK(d.problems.empty());
		CHECK(d.server.cpus == 2);
		CHECK(d.server.slots == 4);
		CHECK(d.server.distccVersion == "3.4");
		CHECK(d.server.state == ServerState::Up);
		REQUIRE(d.server.compilers.size() == 1);
		CHECK(d.server.compilers[0] == Compiler{ "x86_64-linux-gnu", "12" });
		CHECK_FALSE(d.server.sample);
		CHECK(d.server.speed == doctest::Approx(1.0));
	}

	TEST_CASE("order does not matter and keys are case-insensitive")
	{
		std::vector<std::string> txt = kStock;
		std::reverse(txt.begin(), txt.end()); // as Avahi hands them over
		txt[0] = "CC_MACHINE=x86_64-linux-gnu";
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		CHECK(d.server.compilers.at(0).machine == "x86_64-linux-gnu");
		CHECK(d.server.slots == 4);
	}

	TEST_CASE("the first occurrence of a key wins, even when it is refused")
	{
		const std::vector<std::string> first = { "txtvers=1", "jobs=6", "JOBS=99" };
		CHECK(decodeTxt(first).server.slots == 6);
		const std::vector<std::string> badFirst = { "txtvers=1", "cpus=4", "jobs=x", "jobs=9" };
		const TxtDecoded d = decodeTxt(badFirst);
		CHECK(hasProblem(d, "jobs"));
		CHECK(d.server.slots == 6); // distccd's default of cpus + 2
	}

	TEST_CASE("unknown keys, boolean keys and empty keys are ignored")
	{
		std::vector<std::string> txt = kStock;
		txt.insert(txt.end(), { "colour=blue", "flag", "=orphan", "x=" });
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		CHECK(d.server.slots == 4);
	}

	TEST_CASE("hostile values are rejected field by field with a reason")
	{
		const std::vector<std::string> txt = {
			"txtvers=1",
			"cpus=-2",
			"jobs=99999",
			"cc_machine=x86_64-linux-gnu;rm -rf /",
			"cc_version=" + std::string(300, '9'),
			"dmver=1",
			"id=ok-host",
			"speed=1e9",
			"state=sideways",
			"opts=cpp",
			"cc=x86_64-linux-gnu",
			"run=-1",
			"load=nan",
			"inc=18446744073709551616",
			"seq=12",
			std::string("distcc=3.4\0evil", 15),
			"gnuhost=\xff\xfe",
		};
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.usable);
		CHECK(d.ours);
		for (const char *key : { "cpus", "jobs", "cc_machine", "speed", "state", "opts", "cc",
					 "run", "load", "inc", "distcc", "gnuhost" })
			CHECK_MESSAGE(hasProblem(d, key), key);
		// The over-long string is refused before its key is read.
		CHECK(hasProblem(d, ""));
		for (const TxtProblem &p : d.problems)
			CHECK_FALSE(p.reason.empty());

		// Refused fields keep safe defaults; accepted ones are used.
		CHECK(d.server.cpus == 0);
		CHECK(d.server.slots == 4);
		CHECK(d.server.speed == doctest::Approx(1.0));
		CHECK(d.server.state == ServerState::Up);
		CHECK_FALSE(d.server.cpp);
		CHECK(d.server.compilers.empty());
		CHECK_FALSE(d.server.sample); // no valid running count
		CHECK(d.server.id == "ok-host");
		CHECK(d.server.distccVersion == "3.4"); // the default, not the NUL-laden value
	}

	TEST_CASE("absurd capacity is refused at the bounds")
	{
		auto cpus = [](const std::string &v) {
			const std::vector<std::string> txt = { "cpus=" + v };
			return decodeTxt(txt).server.cpus;
		};
		CHECK(cpus("4096") == 4096);
		CHECK(cpus("4097") == 0);
		CHECK(cpus("0") == 0);
		CHECK(cpus("+8") == 0);
		CHECK(cpus(" 8") == 0);
		CHECK(cpus("8.0") == 0);
		CHECK(cpus("0x10") == 0);
	}

	TEST_CASE("an unknown txtvers makes the record unusable")
	{
		std::vector<std::string> txt = kStock;
		txt[0] = "txtvers=2";
		const TxtDecoded d = decodeTxt(txt);
		CHECK_FALSE(d.usable);
		CHECK(hasProblem(d, "txtvers"));
	}

	TEST_CASE("encoding carries stock keys unchanged, then ours, within the size limits")
	{
		const Server s = sampleServer();
		const std::vector<std::string> txt = encodeTxt(s);
		CHECK(txt.at(0) == "txtvers=1");
		for (const char *stock : { "cpus=16", "jobs=18", "distcc=3.4", "cc_version=12",
					   "cc_machine=x86_64-linux-gnu", "gnuhost=x86_64-linux-gnu" })
			CHECK_MESSAGE(std::find(txt.begin(), txt.end(), stock) != txt.end(), stock);
		for (const std::string &entry : txt) {
			const auto key = entry.substr(0, entry.find('='));
			CHECK_MESSAGE(key.size() <= 10, entry); // cc_version/cc_machine are distcc's
			if (key != "cc_version" && key != "cc_machine")
				CHECK_MESSAGE(key.size() <= 9, entry);
		}
		CHECK(txtWireSize(txt) <= kMaxTxtBytes);

		// With only the default compiler, the usual case, it stays under 200.
		Server plain = s;
		plain.compilers.resize(1);
		CHECK(txtWireSize(encodeTxt(plain)) < 200);
	}

	TEST_CASE("encode then decode gives back the record")
	{
		const Server s = sampleServer();
		const TxtDecoded d = decodeTxt(encodeTxt(s));
		CHECK(d.usable);
		CHECK(d.ours);
		CHECK(d.problems.empty());
		CHECK(d.server.id == s.id);
		CHECK(d.server.cpus == s.cpus);
		CHECK(d.server.slots == s.slots);
		CHECK(d.server.speed == doctest::Approx(s.speed));
		CHECK(d.server.state == s.state);
		CHECK(d.server.lzo);
		CHECK(d.server.cpp);
		CHECK(d.server.compilers == s.compilers);
		REQUIRE(d.server.sample);
		CHECK(d.server.sample->running == 7);
		CHECK(d.server.sample->runnable == doctest::Approx(3.5));
		CHECK(d.server.sample->incarnation == s.sample->incarnation);
		CHECK(d.server.sample->sequence == 42);
	}

	TEST_CASE("encoding refuses what it cannot advertise")
	{
		Server s = sampleServer();
		s.compilers.clear();
		CHECK_THROWS_AS(encodeTxt(s), std::invalid_argument);
		s = sampleServer();
		s.cpp = true;
		s.lzo = false;
		CHECK_THROWS_AS(encodeTxt(s), std::invalid_argument);
		s = sampleServer();
		s.id = "bad id";
		CHECK_THROWS_AS(encodeTxt(s), std::invalid_argument);
		s = sampleServer();
		for (int i = 0; i < 12; ++i)
			s.compilers.push_back({ "some-very-long-machine-name-" + std::to_string(i), "12.2.0" });
		CHECK_THROWS_AS(encodeTxt(s), std::length_error);
	}

	TEST_CASE("compiler identities travel in ccid, in the compilers' order, and come back the same")
	{
		Server s = sampleServer();
		s.compilers[0].identity = "a1b2c3d4";
		s.compilers[2].identity = "e5f6a7b8";
		const std::vector<std::string> txt = encodeTxt(s);
		// The stock keys stay as they are; the identities are ours.
		CHECK(std::find(txt.begin(), txt.end(), "cc_version=12") != txt.end());
		CHECK(std::find(txt.begin(), txt.end(), "ccid=a1b2c3d4,-,e5f6a7b8") != txt.end());
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		CHECK(d.server.compilers == s.compilers);

		// Only the default one known: the others need no "-".
		Server one = sampleServer();
		one.compilers[0].identity = "00112233";
		const auto oneTxt = encodeTxt(one);
		CHECK(std::find(oneTxt.begin(), oneTxt.end(), "ccid=00112233") != oneTxt.end());
		CHECK(decodeTxt(oneTxt).server.compilers == one.compilers);
		// None known (an older daemon): no key at all.
		for (const std::string &entry : encodeTxt(sampleServer()))
			CHECK_FALSE(entry.starts_with("ccid="));
	}

	TEST_CASE("a malformed ccid is refused whole with a problem and leaves every identity empty")
	{
		const std::vector<std::string> bad = {
			"ccid=A1B2C3D4",	  // upper case
			"ccid=a1b2c3d",		  // too short
			"ccid=a1b2c3d4e",	  // too long
			"ccid=a1b2c3d4,",	  // trailing comma: an empty entry
			"ccid=",		  // empty
			"ccid=a1b2c3d4,zzzzzzzz", // not hex
			"ccid=a1b2c3d4,-,-",	  // more identities than the two compilers
		};
		for (const std::string &ccid : bad) {
			std::vector<std::string> txt = kStock;
			txt.push_back("dmver=1");
			txt.push_back("cc=aarch64-linux-gnu:12");
			txt.push_back(ccid);
			const TxtDecoded d = decodeTxt(txt);
			CHECK_MESSAGE(hasProblem(d, "ccid"), ccid);
			CHECK_MESSAGE(d.usable, ccid);
			REQUIRE(d.server.compilers.size() == 2);
			for (const Compiler &c : d.server.compilers)
				CHECK_MESSAGE(c.identity.empty(), ccid);
		}
		// A stock record with a well-formed ccid of one: the default's.
		std::vector<std::string> txt = kStock;
		txt.push_back("ccid=a1b2c3d4");
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		REQUIRE(d.server.compilers.size() == 1);
		CHECK(d.server.compilers[0].identity == "a1b2c3d4");
	}

	TEST_CASE("many compilers: identities are cut from the last, never an oversize record")
	{
		Server s = sampleServer();
		s.listens.clear();
		s.allows.clear();
		s.compilers.resize(1);
		// kMaxTxtCompilers + 1 compilers, each with an identity.
		for (std::size_t i = 0; s.compilers.size() < kMaxTxtCompilers + 1; ++i)
			s.compilers.push_back({ "m" + std::to_string(i), "1" });
		for (std::size_t i = 0; i < s.compilers.size(); ++i)
			s.compilers[i].identity = fmt::format("{:08x}", 0x10000000u + i);
		const std::vector<std::string> txt = encodeTxt(s);
		CHECK(txtWireSize(txt) <= kMaxTxtBytes);
		for (const std::string &entry : txt)
			CHECK(entry.size() <= 255);
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		REQUIRE(d.server.compilers.size() == s.compilers.size());
		// A prefix keeps its identities, the rest have none; at least the
		// default compiler's fits, and not all do.
		std::size_t kept = 0;
		while (kept < d.server.compilers.size() && !d.server.compilers[kept].identity.empty())
			++kept;
		CHECK(kept >= 1);
		CHECK(kept < s.compilers.size());
		for (std::size_t i = 0; i < d.server.compilers.size(); ++i) {
			CHECK(d.server.compilers[i].sameVersion(s.compilers[i]));
			CHECK(d.server.compilers[i].identity == (i < kept ? s.compilers[i].identity : ""));
		}
		// The cut does not move with the sample's numbers (the record is
		// sized for the widest), and with the widest one more identity
		// would not have fitted.
		auto ccidOf = [](const std::vector<std::string> &strings) {
			return *std::find_if(strings.begin(), strings.end(),
					     [](const std::string &e) { return e.starts_with("ccid="); });
		};
		Server widest = s;
		widest.sample = LoadSample{ .running = 65535, .runnable = 999999.999, .incarnation = UINT64_MAX, .sequence = UINT64_MAX };
		const std::vector<std::string> wide = encodeTxt(widest);
		CHECK(ccidOf(wide) == ccidOf(txt));
		CHECK(txtWireSize(wide) <= kMaxTxtBytes);
		CHECK(txtWireSize(wide) + kCompilerIdentityDigits + 1 > kMaxTxtBytes);
		widest.sample = LoadSample{};
		CHECK(ccidOf(encodeTxt(widest)) == ccidOf(txt));

		// Fewer compilers: every identity fits.
		s.compilers.resize(4);
		CHECK(decodeTxt(encodeTxt(s)).server.compilers == s.compilers);
	}

	TEST_CASE("an identity that is not 8 hex digits cannot be advertised")
	{
		Server s = sampleServer();
		s.compilers[1].identity = "not-hex!";
		CHECK_THROWS_AS(encodeTxt(s), std::invalid_argument);
	}

	TEST_CASE("decoding bounds the number of strings it reads")
	{
		std::vector<std::string> txt = kStock;
		for (int i = 0; i < 1000; ++i)
			txt.push_back("k" + std::to_string(i) + "=v");
		txt.push_back("state=down"); // past the bound: never read
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.server.state == ServerState::Up);
		CHECK(hasProblem(d, ""));
	}

	TEST_CASE("random bytes never crash the decoder nor produce out-of-range fields")
	{
		std::mt19937 rng(7);
		for (int round = 0; round < 2000; ++round) {
			std::vector<std::string> txt;
			const int n = static_cast<int>(rng() % 12);
			for (int i = 0; i < n; ++i) {
				std::string s = i % 2 ? "jobs=" : "";
				const int len = static_cast<int>(rng() % 20);
				for (int j = 0; j < len; ++j)
					s += static_cast<char>(rng() % 256);
				txt.push_back(s);
			}
			const TxtDecoded d = decodeTxt(txt);
			CHECK(d.server.slots >= 1);
			CHECK(d.server.slots <= kMaxSlots);
		}
	}

	TEST_CASE("where distccd accepts travels in listen and allow, and comes back the same")
	{
		Server s = sampleServer();
		s.compilers.resize(1);
		s.listens = { *Address::parse("0.0.0.0"), *Address::parse("fe80::1") };
		s.allows = { *Network::parse("10.99.0.0/16"), *Network::parse("192.168.1.7"),
			     *Network::parse("fd00::/8") };
		const std::vector<std::string> txt = encodeTxt(s);
		CHECK(std::find(txt.begin(), txt.end(), "listen=0.0.0.0,fe80::1") != txt.end());
		CHECK(std::find(txt.begin(), txt.end(), "allow=10.99.0.0/16,192.168.1.7,fd00::/8") != txt.end());
		// Stock distcc's keys are untouched.
		CHECK(txt.at(0) == "txtvers=1");
		const TxtDecoded d = decodeTxt(txt);
		CHECK(d.problems.empty());
		CHECK(d.server.listens == s.listens);
		CHECK(d.server.allows == s.allows);

		// Eight is the most either list may hold, on both sides.
		s.allows.assign(kMaxTxtNetworks + 1, *Network::parse("10.0.0.0/8"));
		CHECK_THROWS_AS(encodeTxt(s), std::invalid_argument);
	}

	TEST_CASE("a bad or overlong listen or allow is refused whole and means unknown")
	{
		auto decodeWith = [](std::vector<std::string> extra) {
			std::vector<std::string> txt = kStock;
			txt.insert(txt.end(), extra.begin(), extra.end());
			return decodeTxt(txt);
		};
		for (const char *bad : { "allow=10.0.0.0/33", "allow=::/129", "allow=10.0.0.0/", "allow=/8",
					 "allow=10.0.0.1,", "allow=", "allow=host.example", "allow=1.2.3.4/-1",
					 "allow=1.2.3.4/08x" }) {
			const TxtDecoded d = decodeWith({ bad });
			CHECK_MESSAGE(hasProblem(d, "allow"), bad);
			CHECK_MESSAGE(d.server.allows.empty(), bad);
			CHECK_MESSAGE(d.usable, bad);
		}
		for (const char *bad : { "listen=fe80::1%2", "listen=", "listen=10.0.0.1/24", "listen=10.0.0.1,,::" }) {
			const TxtDecoded d = decodeWith({ bad });
			CHECK_MESSAGE(hasProblem(d, "listen"), bad);
			CHECK_MESSAGE(d.server.listens.empty(), bad);
		}
		std::string many = "allow=10.0.0.0/8";
		for (std::size_t i = 1; i <= kMaxTxtNetworks; ++i)
			many += ",10.0.0.0/8";
		CHECK(decodeWith({ many }).server.allows.empty());
		CHECK(hasProblem(decodeWith({ many }), "allow"));
		many.resize(many.rfind(','));
		CHECK(decodeWith({ many }).server.allows.size() == kMaxTxtNetworks);
		// The first occurrence wins, as for every key.
		const TxtDecoded first = decodeWith({ "ALLOW=10.1.0.0/16", "allow=0.0.0.0/0" });
		REQUIRE(first.server.allows.size() == 1);
		CHECK(first.server.allows[0].text() == "10.1.0.0/16");
	}

	TEST_CASE("stock subtype is built exactly as distcc 3.4 builds it")
	{
		CHECK(stockSubtype({ "x86_64-linux-gnu", "12" }) == "_x86-64-linux-gnu--12._sub._distcc._tcp");
		CHECK(stockSubtype({ "x86_64-pc-linux-gnu", "14.0.6" }) ==
		      "_x86-64-pc-linux-gnu--14-0-6._sub._distcc._tcp");
		// distcc folds upper case rather than replacing it.
		CHECK(stockSubtype({ "ARM_Linux", "4.9+X" }) == "_arm-linux--4-9-x._sub._distcc._tcp");
		// Each part is cut to 63 characters, the whole name to 127.
		const std::string longPart(100, 'a');
		CHECK(stockSubtype({ longPart, "1" }) == "_" + std::string(63, 'a') + "--1._sub._distcc._tcp");
		CHECK(stockSubtype({ longPart, longPart }).size() == 127);
	}
}

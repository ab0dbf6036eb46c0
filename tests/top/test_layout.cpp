// The --top model and screen: decoding the farm object, the layout at 80x24, sorting, bounds, hostile names.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hosts/farm.h"
#include "hosts/top_layout.h"

using namespace dmdns;
using namespace dmdns::top;

namespace {

std::string fixtureText()
{
	std::ifstream in(TOP_FIXTURE);
	std::stringstream s;
	s << in.rdbuf();
	REQUIRE(!s.str().empty());
	return s.str();
}

nlohmann::json fixture()
{
	return nlohmann::json::parse(fixtureText());
}

Farm farmOf(const nlohmann::json &j)
{
	return decodeFarm(j.dump());
}

// The line that starts with @prefix after the row mark, or "".
std::string row(const Screen &screen, std::string_view name)
{
	for (const std::string &l : screen.lines)
		if (l.size() > 1 && l.substr(1).starts_with(name) && l.size() > name.size() + 1 &&
		    l[name.size() + 1] == ' ')
			return l;
	return {};
}

std::size_t indexOf(const Screen &screen, std::string_view name)
{
	for (std::size_t i = 0; i < screen.lines.size(); ++i)
		if (screen.lines[i].size() > 1 && screen.lines[i].substr(1).starts_with(name))
			return i;
	return screen.lines.size();
}

} // namespace

TEST_SUITE("top")
{
	TEST_CASE("decodes the fixture's servers, clients, totals and history")
	{
		const Farm farm = farmOf(fixture());
		CHECK(farm.seq == 17);
		CHECK(farm.host == "c1");
		CHECK(farm.line == "s1/3 s2/3 localhost/2");
		CHECK(farm.jobs == 9);
		CHECK(farm.totals.slots == 32);
		CHECK(farm.totals.utilisation == doctest::Approx(0.34));
		REQUIRE(farm.servers.size() == 4);
		CHECK(farm.servers[0].clients.size() == 2);
		CHECK(farm.servers[0].clients[0].name == "c1");
		CHECK(farm.servers[0].clients[0].running == 3);
		CHECK(farm.servers[0].busyHistory.size() == 120);
		CHECK(farm.servers[2].state == "drain");
		CHECK(farm.servers[2].excluded == "not up");
		CHECK(!farm.servers[2].fresh);
		CHECK(farm.servers[3].local);
		REQUIRE(farm.clients.size() == 2);
		CHECK(farm.clients[0].self);
		CHECK(farm.clients[0].share == 10u);
		CHECK(!farm.clients[1].share);
		CHECK(!farm.clients[1].localJobs);
	}

	TEST_CASE("refuses what is not a farm object, naming the key")
	{
		CHECK_THROWS_WITH(decodeFarm("[1,2]"), doctest::Contains("not a JSON object"));
		CHECK_THROWS_WITH(decodeFarm("{\"ok\":true,\"line\":\"x\"}"), doctest::Contains("version"));
		CHECK_THROWS_WITH(decodeFarm("{\"ok\":false,\"error\":\"unknown op 'watch'\"}"),
				  doctest::Contains("unknown op 'watch'"));
		nlohmann::json j = fixture();
		j["version"] = 2;
		CHECK_THROWS_WITH(farmOf(j), doctest::Contains("version 1"));
		j = fixture();
		j["servers"][0]["slots"] = "eight";
		CHECK_THROWS_WITH(farmOf(j), doctest::Contains("'slots' must be an integer"));
		j = fixture();
		j["servers"][0]["running"] = -1;
		CHECK_THROWS_WITH(farmOf(j), doctest::Contains("'running'"));
		j = fixture();
		j["clients"][0]["history"]["share"] = { 1, "x" };
		CHECK_THROWS_AS(farmOf(j), std::invalid_argument);
	}

	TEST_CASE("unknown keys and nulls are fine; lists are cut at their bounds")
	{
		nlohmann::json j = fixture();
		j["new_key"] = { { "a", 1 } };
		j["servers"][0]["running"] = nullptr;
		j["servers"][0]["later"] = 3;
		CHECK_NOTHROW(farmOf(j));
		const nlohmann::json one = j["servers"][1];
		j["servers"] = nlohmann::json::array();
		for (std::size_t i = 0; i < kMaxServers + 10; ++i)
			j["servers"].push_back(one);
		j["servers"][0]["history"]["busy"] = std::vector<int>(kMaxHistory + 50, 1);
		const Farm farm = farmOf(j);
		CHECK(farm.servers.size() == kMaxServers);
		CHECK(farm.serversCut == 10);
		CHECK(farm.servers[0].busyHistory.size() == kMaxHistory);
		LayoutOptions o;
		const Screen screen = layoutTop(farm, {}, o);
		CHECK(screen.lines.size() == 24);
		bool said = false;
		for (const std::string &l : screen.lines)
			said = said || l.find(fmt::format("more servers")) != std::string::npos;
		CHECK(said);
	}

	TEST_CASE("fits 80x24: every server and client, the totals, the line, this machine marked")
	{
		const Farm farm = farmOf(fixture());
		LayoutOptions o;
		o.unicode = false;
		const Screen screen = layoutTop(farm, {}, o);
		CHECK(screen.lines.size() == 24);
		for (const std::string &l : screen.lines)
			CHECK(columns(l) <= 80);
		CHECK(screen.lines[1] == "farm: 3/4 up  slots 32 busy 11 rsvd 4 (34%)  clients 2 want 30 waiting 18");
		CHECK(screen.lines[2] == "line: s1/3 s2/3 localhost/2 (-j9)");
		const std::string s1 = row(screen, "s1");
		INFO(s1);
		REQUIRE(!s1.empty());
		// slots 8, running 5 (none queued), reserved 1; c1 runs 3, c2 2.
		CHECK(s1.find(" up      8   5   1   0 ") != std::string::npos);
		CHECK(s1.find("c1:3 c2:2") != std::string::npos);
		// The bar: 5 of 8 busy, 1 reserved, 2 free.
		CHECK(s1.find("#####+..") != std::string::npos);
		const std::string s3 = row(screen, "s3");
		CHECK(s3.find("drain") != std::string::npos);
		CHECK(s3.find("(not up)") != std::string::npos);
		// Its sample is not fresh: the age says so.
		CHECK(s3.find("!4.2s") != std::string::npos);
		// This machine's server row and client row are marked.
		const std::size_t mine = indexOf(screen, "c1 ");
		REQUIRE(mine < screen.lines.size());
		CHECK(screen.lines[mine][0] == '*');
		CHECK(screen.marked.size() == 2);
		for (const std::size_t i : screen.marked)
			CHECK(screen.lines[i][0] == '*');
		// Clients: c1 (want 20, share 10, holds 6), then 10.0.0.4 with
		// no share limit.
		bool c1 = false, other = false;
		for (const std::string &l : screen.lines) {
			c1 = c1 || (l.starts_with("*c1 ") && l.find("   20     2    10     6     9     1") != std::string::npos);
			other = other || (l.starts_with(" 10.0.0.4") && l.find("  all ") != std::string::npos);
		}
		CHECK(c1);
		CHECK(other);
		CHECK(screen.lines.back().starts_with("q quit"));
	}

	TEST_CASE("sort keys order the server rows")
	{
		const Farm farm = farmOf(fixture());
		LayoutOptions o;
		o.sort = SortKey::Busy;
		Screen s = layoutTop(farm, {}, o);
		CHECK(indexOf(s, "s2") < indexOf(s, "s1"));
		CHECK(indexOf(s, "s1") < indexOf(s, "s3"));
		o.sort = SortKey::Name;
		s = layoutTop(farm, {}, o);
		CHECK(indexOf(s, "c1 ") < indexOf(s, "s1"));
		CHECK(indexOf(s, "s1") < indexOf(s, "s2"));
		o.sort = SortKey::State;
		s = layoutTop(farm, {}, o);
		CHECK(indexOf(s, "s3") > indexOf(s, "s2"));
		o.sort = SortKey::Free;
		s = layoutTop(farm, {}, o);
		// c1 and s3 have 8 free, s1 2, s2 none (6 running, 3 reserved).
		CHECK(indexOf(s, "s1") < indexOf(s, "s2"));
		CHECK(indexOf(s, "s3") < indexOf(s, "s1"));
		CHECK(sortKeyOf('b') == SortKey::Busy);
		CHECK(!sortKeyOf('x'));
		CHECK(parseSortKey("speed") == SortKey::Speed);
		CHECK(!parseSortKey("fast"));
	}

	TEST_CASE("a server's client without a name is named by its node's client row, else its address")
	{
		nlohmann::json j = fixture();
		j["servers"][1]["clients"] = { { { "address", "10.0.0.3" },
						 { "client", "0123456789abcdef" },
						 { "name", nullptr },
						 { "running", 4 } },
					       { { "address", "10.0.0.9" },
						 { "client", "fedcba9876543210" },
						 { "name", nullptr },
						 { "running", 1 } },
					       { { "address", "" }, { "client", nullptr }, { "name", nullptr }, { "running", 2 } } };
		const Screen s = layoutTop(farmOf(j), {}, LayoutOptions{ 160, 24, SortKey::Name, false, {}, true });
		INFO(row(s, "s2"));
		CHECK(row(s, "s2").find("c1:4 10.0.0.9:1 +2") != std::string::npos);
	}

	TEST_CASE("queued jobs: running beyond the slots")
	{
		nlohmann::json j = fixture();
		j["servers"][0]["running"] = 11;
		j["servers"][0]["reserved"] = 0;
		const Screen s = layoutTop(farmOf(j), {}, LayoutOptions{ 80, 24, SortKey::Name, false, {}, true });
		INFO(row(s, "s1"));
		CHECK(row(s, "s1").find(" up      8   8   0   3 ") != std::string::npos);
		CHECK(row(s, "s1").find("########") != std::string::npos);
	}

	TEST_CASE("sparkline: the busiest second of each 15, newest at the right; bar rounds up")
	{
		std::vector<std::uint32_t> h(30, 0);
		h[29] = 8;
		CHECK(sparkline(h, 8, false) == "      _#");
		CHECK(sparkline({}, 8, false) == "        ");
		std::vector<std::uint32_t> all(600, 4);
		CHECK(sparkline(all, 8, false) == "========");
		CHECK(sparkline(all, 8, true) == "\u2585\u2585\u2585\u2585\u2585\u2585\u2585\u2585");
		CHECK(busyBar(1, 0, 32, false) == "#.......");
		CHECK(busyBar(0, 0, 0, false) == "........");
		CHECK(busyBar(40, 5, 8, false) == "########");
		CHECK(columns("\u2588a") == 2);
	}

	TEST_CASE("a hostile name is made printable and cut; the screen keeps its size")
	{
		nlohmann::json j = fixture();
		j["servers"][0]["name"] = "\x1b[2J\x1b]0;pwned\x07" + std::string(600, 'x');
		j["servers"][0]["excluded"] = "\x1b[31mred";
		j["line"] = "a\nb";
		const Screen s = layoutTop(farmOf(j), {}, LayoutOptions{});
		for (const std::string &l : s.lines) {
			CHECK(columns(l) <= 80);
			for (const char c : l)
				CHECK(static_cast<unsigned char>(c) >= 0x20);
		}
	}

	TEST_CASE("small and large terminals; plain lines have no height limit")
	{
		nlohmann::json j = fixture();
		const nlohmann::json one = j["servers"][1];
		for (int i = 0; i < 40; ++i) {
			nlohmann::json s = one;
			s["name"] = fmt::format("x{:02}", i);
			j["servers"].push_back(s);
		}
		const Farm farm = farmOf(j);
		std::vector<client::DistccJob> jobs(3);
		jobs[0].file = "a.c";
		jobs[0].host = "10.0.0.1";
		jobs[0].phase = client::DistccPhase::Compile;
		Screen s = layoutTop(farm, jobs, LayoutOptions{ 80, 24, SortKey::Name, true, "the daemon went away", true });
		CHECK(s.lines.size() == 24);
		CHECK(s.lines[3] == "! the daemon went away");
		// Both clients and the jobs keep rows although servers overflow.
		CHECK(indexOf(s, "10.0.0.4") < s.lines.size());
		bool job = false;
		for (const std::string &l : s.lines)
			job = job || l.find("a.c") != std::string::npos;
		CHECK(job);
		s = layoutTop(farm, jobs, LayoutOptions{ 30, 10, SortKey::Name, false, {}, true });
		CHECK(s.lines.size() == 10);
		for (const std::string &l : s.lines)
			CHECK(columns(l) <= 30);
		s = layoutTop(farm, jobs, LayoutOptions{ 200, 0, SortKey::Name, false, {}, false });
		// 44 servers, 2 clients, 3 jobs, 3 headers, 3 lines on top.
		CHECK(s.lines.size() == 44 + 2 + 3 + 3 + 3);
	}
}

TEST_SUITE("top")
{
	// What a broken or hostile daemon might send: every mutation either
	// decodes into a screen that keeps its bounds, or is refused with
	// std::invalid_argument; nothing else escapes.
	TEST_CASE("mutated farm objects are drawn within bounds or refused")
	{
		const std::string text = nlohmann::json::parse(fixtureText()).dump();
		std::uint64_t state = 0x9e3779b97f4a7c15u;
		const auto next = [&state] {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			return state;
		};
		constexpr std::string_view kBytes = "{}[]\",:0123456789-.e nulltruefalse\x1b\xff";
		std::size_t decoded = 0, refused = 0;
		for (int i = 0; i < 3000; ++i) {
			std::string m = text;
			for (int k = 1 + static_cast<int>(next() % 4); k > 0; --k) {
				const std::size_t at = next() % m.size();
				switch (next() % 3) {
				case 0:
					m[at] = kBytes[next() % kBytes.size()];
					break;
				case 1:
					m.erase(at, 1 + next() % 16);
					break;
				default:
					m.insert(at, 1, kBytes[next() % kBytes.size()]);
					break;
				}
			}
			try {
				const Farm farm = decodeFarm(m);
				const Screen s = layoutTop(farm, {}, LayoutOptions{});
				CHECK(s.lines.size() == 24);
				for (const std::string &l : s.lines)
					CHECK(columns(l) <= 80);
				++decoded;
			} catch (const std::invalid_argument &) {
				++refused;
			}
		}
		// Both ways were taken: the mutations are neither all harmless nor
		// all fatal.
		CHECK(decoded > 100);
		CHECK(refused > 100);
	}
}

// Unit tests of the typed model's JSON codec, the HOST:PORT reading of requests and the demand ledger.
#include <doctest/doctest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "daemon/hosts_query.h"
#include "daemon/json_codec.h"
#include "daemon/view.h"
#include "support/entries.h"

using namespace dmdns;

namespace {

// A farm whose view uses every field: samples, gossip, a duplicate, a
// failing host, an ineligible one, a clamped demand.
HostsAnswer busyAnswer()
{
	std::vector<DirectoryEntry> entries = { test::entry("a", "10.0.0.2", 4), test::entry("a-stock", "10.0.0.2", 4),
						test::entry("b", "10.0.0.3", 8), test::entry("c", "fe80::9", 2),
						test::entry("d", "10.0.0.5", 4) };
	entries[0].server.id = "00000000000000aa";
	entries[0].server.sample = LoadSample{ 2, 1.25, 1, 1, std::chrono::milliseconds(1500) };
	entries[0].server.liveness = Liveness::Alive;
	entries[0].server.speed = 1.5;
	entries[0].server.speedEstimate = SpeedEstimate{ 3.0, 1.5, 57, 2, 1.5 };
	entries[2].server.speedEstimate = SpeedEstimate{ 1.0, std::nullopt, 3, 1, 1.0 };
	entries[1].stock = true;
	entries[2].server.state = ServerState::Drain;
	entries[3].server.cpus = 0;
	entries[3].problems = { { "cpus", "not a number" } };
	entries[4].server.speed = 0.75;
	HostsRequest request;
	request.localSlots = 3;
	request.want = 500;
	request.failing = { { "10.0.0.5", 3632 } };
	const std::vector<std::uint32_t> reserved = { 1, 0, 0, 0, 0 };
	return answerHosts(request, entries, FarmState{ reserved, 0, {}, {}, {} }, { 2, 1.0 }, "test", 7);
}

} // namespace

TEST_SUITE("codec")
{
	TEST_CASE("HOST:PORT: IPv4 and names with a port, IPv6 only in brackets")
	{
		struct Case {
			const char *text;
			const char *host;
			std::uint16_t port;
		};
		for (const Case &c : { Case{ "10.0.0.2:3632", "10.0.0.2", 3632 }, Case{ "build-7:1", "build-7", 1 },
				       Case{ "[fe80::9]:3632", "fe80::9", 3632 }, Case{ "[fe80::9%eth0]:4000", "fe80::9", 4000 },
				       Case{ "[::1]:65535", "::1", 65535 } }) {
			INFO(c.text);
			const auto parsed = parseFailingHost(c.text);
			REQUIRE(parsed);
			CHECK(parsed->host == c.host);
			CHECK(parsed->port == c.port);
		}
		// Ambiguous (a bare IPv6 address and a port), portless, brackets
		// around what is not IPv6, or broken (host_port.h reads them).
		for (const char *bad : { "[10.0.0.2]:3632", "fe80::9:3632", "::1:3632", "::1", "10.0.0.2", "10.0.0.2:", ":3632", "h:0",
					 "h:65536", "h:99999", "h:36x", "h:+1", "[fe80::9]", "[fe80::9]3632", "[fe80::9:3632",
					 "[]:3632", "[%eth0]:3632", "[::1]:", "" }) {
			INFO(bad);
			CHECK_FALSE(parseFailingHost(bad));
		}
		CHECK(formatFailingHost({ "fe80::9", 3632 }) == "[fe80::9]:3632");
		CHECK(formatFailingHost({ "10.0.0.2", 3632 }) == "10.0.0.2:3632");
		CHECK(parseFailingHost(formatFailingHost({ "2001:db8::42", 7 })) == FailingHost{ "2001:db8::42", 7 });
	}

	TEST_CASE("a request refuses a bare IPv6 failing host, naming it, and accepts it in brackets")
	{
		nlohmann::json request = { { "op", "hosts" }, { "failing", { "fe80::9:3632" } } };
		CHECK_THROWS_WITH_AS(codec::decodeRequest(request), doctest::Contains("fe80::9:3632"),
				     std::invalid_argument);
		request["failing"] = { "[fe80::9]:3632" };
		const auto hosts = std::get<HostsRequest>(codec::decodeRequest(request));
		REQUIRE(hosts.failing.size() == 1);
		CHECK(hosts.failing[0] == FailingHost{ "fe80::9", 3632 });
		// One too many, or one too long, is refused whole.
		request["failing"] = nlohmann::json(std::vector<std::string>(HostsRequest::kMaxFailing + 1, "h:1"));
		CHECK_THROWS_AS(codec::decodeRequest(request), std::invalid_argument);
		// Text past the bound is refused unread; a name as long as DNS
		// allows (253, in labels of 63) is read.
		request["failing"] = { std::string(HostsRequest::kMaxFailingText - 1, 'h') + ":1" };
		CHECK_THROWS_AS(codec::decodeRequest(request), std::invalid_argument);
		std::string name;
		while (name.size() + 64 <= 253)
			name += std::string(63, 'h') + ".";
		name += std::string(253 - name.size(), 'h');
		request["failing"] = { name + ":1" };
		CHECK_NOTHROW(codec::decodeRequest(request));
	}

	TEST_CASE("a typed request survives encoding and decoding, as the client sends it")
	{
		HostsRequest h;
		h.localSlots = 3;
		h.want = 12;
		h.speed = 1.25;
		h.minSpeed = 0.4;
		h.lzo = true;
		h.compiler = Compiler{ "x86_64-linux-gnu", "12" };
		h.reserve = false;
		h.failing = { { "10.0.0.2", 3632 }, { "fe80::9", 3633 } };
		const nlohmann::json j = codec::encode(h);
		CHECK(j["failing"][1] == "[fe80::9]:3633");
		const auto back = std::get<HostsRequest>(codec::decodeRequest(j));
		CHECK(back.localSlots == h.localSlots);
		CHECK(back.want == h.want);
		CHECK(back.speed == h.speed);
		CHECK(back.minSpeed == h.minSpeed);
		CHECK(back.lzo);
		CHECK_FALSE(back.cpp);
		CHECK(back.compiler == h.compiler);
		CHECK(back.reserve == false);
		CHECK(back.failing == h.failing);
		CHECK(codec::encode(back) == j);
	}

	TEST_CASE("the hosts op carries the compiler's identity and the match mode; bad values are named")
	{
		HostsRequest h;
		h.compiler = Compiler{ "x86_64-linux-gnu", "12", "a1b2c3d4" };
		h.match = MatchMode::Exact;
		const nlohmann::json j = codec::encode(h);
		CHECK(j["compiler"] == "x86_64-linux-gnu 12");
		CHECK(j["compiler_id"] == "a1b2c3d4");
		CHECK(j["match"] == "exact");
		const auto back = std::get<HostsRequest>(codec::decodeRequest(j));
		CHECK(back.compiler == h.compiler);
		CHECK(back.match == MatchMode::Exact);
		CHECK(codec::encode(back) == j);
		// Absent: the defaults, version matching and no identity.
		const auto plain = std::get<HostsRequest>(codec::decodeRequest({ { "op", "hosts" } }));
		CHECK_FALSE(plain.match);

		auto refused = [](nlohmann::json r, const std::string &named) {
			r["op"] = "hosts";
			try {
				codec::decodeRequest(r);
				return false;
			} catch (const std::invalid_argument &e) {
				return std::string(e.what()).find(named) != std::string::npos;
			}
		};
		CHECK(refused({ { "match", "fuzzy" } }, "'match'"));
		CHECK(refused({ { "match", 1 } }, "'match'"));
		CHECK(refused({ { "compiler", "x86_64-linux-gnu 12" }, { "compiler_id", "A1B2C3D4" } }, "'compiler_id'"));
		CHECK(refused({ { "compiler", "x86_64-linux-gnu 12" }, { "compiler_id", "a1b2" } }, "'compiler_id'"));
		CHECK(refused({ { "compiler_id", "a1b2c3d4" } }, "'compiler_id'"));
	}

	TEST_CASE("a build request needs a want, reserves, and refuses reserve:false, naming the field")
	{
		HostsRequest h;
		h.want = 9;
		h.build = true;
		const nlohmann::json j = codec::encode(h);
		CHECK(j["build"] == true);
		const auto back = std::get<HostsRequest>(codec::decodeRequest(j));
		CHECK(back.build);
		CHECK(back.want == 9u);
		CHECK(back.reserve == true); // implied
		CHECK(codec::encode(back)["build"] == true);
		// Absent or false: no build.
		CHECK_FALSE(std::get<HostsRequest>(codec::decodeRequest({ { "op", "hosts" }, { "want", 3 } })).build);
		const auto notBuild = std::get<HostsRequest>(
			codec::decodeRequest({ { "op", "hosts" }, { "want", 3 }, { "build", false }, { "reserve", false } }));
		CHECK_FALSE(notBuild.build);
		CHECK(notBuild.reserve == false);
		const auto explicitReserve = std::get<HostsRequest>(
			codec::decodeRequest({ { "op", "hosts" }, { "want", 3 }, { "build", true }, { "reserve", true } }));
		CHECK(explicitReserve.build);

		auto error = [](std::string_view line) {
			const std::string reply = codec::answerLine(line, [](const Request &, const Caller &) {
				FAIL("a refused request reached the handler");
				return nlohmann::json::object();
			});
			const nlohmann::json r = nlohmann::json::parse(reply);
			CHECK(r["ok"] == false);
			return r["error"].get<std::string>();
		};
		CHECK(error(R"({"op":"hosts","build":true})") == "'build' needs 'want'");
		CHECK(error(R"({"op":"hosts","build":true,"want":4,"reserve":false})").find("\"reserve\":false") !=
		      std::string::npos);
		CHECK(error(R"({"op":"hosts","build":1,"want":4})") == "'build' must be true or false");
		CHECK(error(R"({"op":"hosts","build":true,"want":-1})").find("'want'") != std::string::npos);
	}

	TEST_CASE("identity mismatches: the reason, the warning and unverified read back from the JSON")
	{
		std::vector<DirectoryEntry> entries = { test::entry("same", "10.0.0.2", 4),
							test::entry("other", "10.0.0.3", 4),
							test::entry("stock", "10.0.0.4", 4) };
		for (DirectoryEntry &e : entries)
			e.server.compilers = { { "x86_64-linux-gnu", "12" } };
		entries[0].server.compilers[0].identity = "a1b2c3d4";
		entries[1].server.compilers[0].identity = "e5f6a7b8";
		entries[2].stock = true;
		HostsRequest request;
		request.localSlots = 1;
		request.compiler = Compiler{ "x86_64-linux-gnu", "12", "a1b2c3d4" };
		for (MatchMode mode : { MatchMode::Version, MatchMode::Exact }) {
			request.match = mode;
			const View view = answerHosts(request, entries, FarmState{}, { 2, 1.0 }, "test", 7).view;
			CHECK(view.match == mode);
			const nlohmann::json j = codec::encode(view);
			CHECK(j["match"] == matchModeName(mode));
			std::map<std::string, const ServerView *> by;
			for (const ServerView &s : view.servers)
				by[s.name] = &s;
			REQUIRE(by.size() == 3);
			CHECK(by["same"]->identity.match == IdentityMatch::Same);
			CHECK(by["other"]->identity.match == IdentityMatch::Differs);
			CHECK(by["stock"]->identity.match == IdentityMatch::Unverified);
			const std::string table = statusTable(view);
			INFO(table);
			const std::string detail = "x86_64-linux-gnu 12 (a1b2c3d4) here, 12 (e5f6a7b8) there";
			if (mode == MatchMode::Exact) {
				CHECK(by["other"]->excluded == Exclusion::Ineligible);
				CHECK(exclusionText(*by["other"]) == "compiler identity differs: " + detail);
				CHECK(table.find("left out: compiler identity differs: " + detail) != std::string::npos);
				CHECK(table.find("compiler unverified: no identity advertised") != std::string::npos);
			} else {
				CHECK(by["other"]->excluded == Exclusion::None);
				CHECK(table.find("warning: compiler identity differs: " + detail) != std::string::npos);
				CHECK(table.find("unverified") == std::string::npos);
			}
			nlohmann::json sent = nlohmann::json::parse(j.dump());
			const View back = codec::decodeView(sent);
			CHECK(codec::encode(back).dump(2) == j.dump(2));
			CHECK(statusTable(back) == table);
		}
		nlohmann::json bad = codec::encode(answerHosts(request, entries, FarmState{}, { 2, 1.0 }, "t", 7).view);
		bad["servers"][0]["identity"] = { { "match", "maybe" } };
		CHECK_THROWS_AS(codec::decodeView(bad), std::invalid_argument);
		bad["servers"][0]["identity"] = "differs";
		CHECK_THROWS_AS(codec::decodeView(bad), std::invalid_argument);
	}

	TEST_CASE("each op decodes to its type; set-state's state must be a string")
	{
		CHECK(std::holds_alternative<StatsRequest>(codec::decodeRequest({ { "op", "stats" } })));
		const Request set = codec::decodeRequest({ { "op", "set-state" }, { "state", "drain" } });
		REQUIRE(std::holds_alternative<SetStateRequest>(set));
		CHECK(std::get<SetStateRequest>(set).state == "drain");
		CHECK(codec::opName(set) == "set-state");
		CHECK(codec::encode(std::get<SetStateRequest>(set)) == nlohmann::json{ { "op", "set-state" }, { "state", "drain" } });
		CHECK_THROWS_WITH_AS(codec::decodeRequest({ { "op", "set-state" }, { "state", 1 } }),
				     "'state' must be a string", std::invalid_argument);
		CHECK_THROWS_WITH_AS(codec::decodeRequest({ { "op", 7 } }), "'op' must be a string", std::invalid_argument);
		CHECK_THROWS_WITH_AS(codec::decodeRequest(nlohmann::json::object()), "missing 'op'", std::invalid_argument);
		CHECK(codec::encode(SetStateReply{ ServerState::Drain }) == nlohmann::json{ { "state", "drain" } });
	}

	TEST_CASE("setup-user carries no uid (the socket says who asks); its reply needs an absolute path")
	{
		CHECK(codec::encode(SetupUserRequest{}) == nlohmann::json{ { "op", "setup-user" } });
		CHECK(std::holds_alternative<SetupUserRequest>(codec::decodeRequest({ { "op", "setup-user" } })));
		CHECK(codec::decodeSetupUserReply({ { "ok", true }, { "path", "/run/distcc-mdns/users/1000/hosts" } }).path ==
		      "/run/distcc-mdns/users/1000/hosts");
		CHECK_THROWS_AS(codec::decodeSetupUserReply({ { "ok", true }, { "path", "relative" } }), std::invalid_argument);
		CHECK_THROWS_AS(codec::decodeSetupUserReply({ { "ok", true } }), std::invalid_argument);
	}

	TEST_CASE("a view read back from its JSON writes the same JSON and the same table")
	{
		const HostsAnswer answer = busyAnswer();
		const nlohmann::json j = codec::encode(answer.view);
		// The figures the farm was built to show.
		CHECK(j["want"] == 4 + 4 + 8 + 2 + 4); // the farm's slots
		CHECK(j["want_asked"] == 500);
		CHECK(j["localhost"].is_string());
		bool duplicate = false, failing = false, ineligible = false, sampled = false;
		for (const auto &s : j["servers"]) {
			const std::string why = s["excluded"].is_string() ? s["excluded"].get<std::string>() : "";
			duplicate |= why == "same address and port as a";
			failing |= why.starts_with("failing:");
			ineligible |= why == "not up";
			if (s["name"] == "a") {
				sampled = true;
				CHECK(s["load"] == 1.25);
				CHECK(s["age_ms"] == 1500);
				CHECK(s["liveness"] == "alive");
				CHECK(s["reserved"] == 1);
				CHECK(s["benchmark_speed"] == 3.0);
				CHECK(s["learned_speed"] == 1.5);
				CHECK(s["speed_jobs"] == 57);
				CHECK(s["speed_source"] == "learned");
			}
			if (s["name"] == "c") {
				CHECK(s["cpus"].is_null());
				CHECK(s["problems"][0] == "cpus: not a number");
			}
		}
		CHECK(duplicate);
		CHECK(failing);
		CHECK(ineligible);
		CHECK(sampled);

		// Through text, as a client reads the daemon's reply.
		nlohmann::json sent = nlohmann::json::parse(j.dump());
		sent["ok"] = true;
		const View back = codec::decodeView(sent);
		CHECK(codec::encode(back).dump(2) == j.dump(2));
		CHECK(statusTable(back) == statusTable(answer.view));
		const std::string table = statusTable(back);
		CHECK(table.find("SPEED FROM     BENCH LEARNED  JOBS") != std::string::npos);
		CHECK(table.find("1.50 learned   3.00    1.50    57") != std::string::npos);
		CHECK(table.find("1.00 bench     1.00       -     3") != std::string::npos);
		sent["servers"][0]["speed_source"] = "guessed";
		CHECK_THROWS_AS(codec::decodeView(sent), std::invalid_argument);
	}

	TEST_CASE("every reason a server is left out reads back as itself")
	{
		std::vector<ServerView> servers;
		for (Exclusion why : { Exclusion::Failing, Exclusion::Spare, Exclusion::Slower, Exclusion::Full,
				       Exclusion::Overloaded, Exclusion::NoAddress }) {
			ServerView s;
			s.excluded = why;
			servers.push_back(s);
		}
		for (Ineligible why : { Ineligible::NotUp, Ineligible::NoCapacity, Ineligible::Stale, Ineligible::Compiler,
					Ineligible::Slow, Ineligible::Dead, Ineligible::Left, Ineligible::Identity }) {
			ServerView s;
			s.excluded = Exclusion::Ineligible;
			s.ineligible = why;
			servers.push_back(s);
		}
		ServerView dup;
		dup.excluded = Exclusion::Duplicate;
		dup.duplicateOf = "distcc@a";
		servers.push_back(dup);
		for (const ServerView &s : servers) {
			const std::string text = exclusionText(s);
			INFO(text);
			CHECK_FALSE(text.empty());
			ServerView back;
			parseExclusion(text, back);
			CHECK(back.excluded == s.excluded);
			CHECK(back.ineligible == s.ineligible);
			CHECK(back.duplicateOf == s.duplicateOf);
		}
		// A reason from another version is kept as it was written.
		ServerView other;
		parseExclusion("moon phase", other);
		CHECK(other.excluded == Exclusion::Other);
		CHECK(exclusionText(other) == "moon phase");
	}

	TEST_CASE("a reply of the wrong shape is refused, not half read")
	{
		nlohmann::json j = codec::encode(busyAnswer().view);
		for (const char *key : { "line", "jobs" }) {
			nlohmann::json broken = j;
			broken.erase(key);
			CHECK_THROWS_AS(codec::decodeView(broken), std::invalid_argument);
		}
		for (const auto &[key, value] : { std::pair<const char *, nlohmann::json>{ "jobs", "12" },
						  { "jobs", -1 },
						  { "line", 3 },
						  { "servers", "none" },
						  { "localhost", "nowhere" },
						  { "share", "half" } }) {
			nlohmann::json broken = j;
			broken[key] = value;
			const std::string field = key; // clang 14 cannot capture a structured binding
			INFO(field);
			CHECK_THROWS_AS(codec::decodeView(broken), std::invalid_argument);
		}
		nlohmann::json broken = j;
		broken["servers"][0]["state"] = "melted";
		CHECK_THROWS_AS(codec::decodeView(broken), std::invalid_argument);
		broken = j;
		broken["servers"][0]["slots"] = 1.5;
		CHECK_THROWS_AS(codec::decodeView(broken), std::invalid_argument);
		broken = j;
		broken["servers"][0]["compilers"] = { 1 };
		CHECK_THROWS_AS(codec::decodeView(broken), std::invalid_argument);
		CHECK_THROWS_AS(codec::decodeView(nlohmann::json::array()), std::invalid_argument);
	}
}

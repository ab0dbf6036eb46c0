// Unit tests of the query protocol and the JSON view, without sockets or Avahi.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <nlohmann/json.hpp>

#include "hosts_file.h"
#include "hosts_query.h"
#include "query_server.h"
#include "view.h"

using namespace dmdns;

namespace {

DirectoryEntry entry(const char *name, const char *address, std::uint32_t slots)
{
	DirectoryEntry e;
	e.name = name;
	e.hostName = std::string(name) + ".local";
	e.server.id = name;
	e.server.addresses = { *Address::parse(address) };
	e.server.cpus = slots;
	e.server.slots = slots;
	e.server.compilers = { { "x86_64-linux-gnu", "12" } };
	e.stock = true; // no sample: load unknown
	return e;
}

nlohmann::json reply(std::string_view line, const std::vector<DirectoryEntry> &entries = {})
{
	const std::string text = answerLine(line, [&](const nlohmann::json &request, const QueryServer::Caller &) {
		return answerHosts(request, entries, {}, 1.0, "test").view;
	});
	REQUIRE(text.back() == '\n');
	REQUIRE(text.find('\n') == text.size() - 1);
	return nlohmann::json::parse(text);
}

} // namespace

TEST_SUITE("query")
{
	TEST_CASE("a hosts request gets the line, the jobs and every server")
	{
		std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 4),
							entry("distcc@b", "10.0.0.3", 6),
							entry("distcc@c", "10.0.0.4", 8) };
		entries[2].server.state = ServerState::Drain;
		const nlohmann::json r = reply(R"({"op":"hosts","local_slots":3})", entries);
		CHECK(r["ok"] == true);
		CHECK(r["source"] == "test");
		CHECK(r["jobs"] == 4 + 6 + 3);
		const std::string line = r["line"];
		CHECK(line.find("10.0.0.2/4") != std::string::npos);
		CHECK(line.find("10.0.0.3/6") != std::string::npos);
		CHECK(line.ends_with("localhost/3"));
		REQUIRE(r["servers"].size() == 3);
		// Listed servers first, in line order, then the left-out one.
		CHECK(r["servers"][2]["name"] == "distcc@c");
		CHECK(r["servers"][2]["limit"] == 0);
		CHECK(r["servers"][2]["excluded"] == "not up");
		CHECK(r["servers"][0]["running"].is_null()); // stock: unknown load
		CHECK(parseHostsLine(line).line);
	}

	TEST_CASE("malformed requests get an error reply naming the problem")
	{
		for (const char *bad : { "", "not json", "[1,2]", "42", R"({"op":7})", R"({"op":"nuke"})",
					 R"({})", R"({"op":"hosts","local_slots":0})",
					 R"({"op":"hosts","local_slots":"4"})", R"({"op":"hosts","lzo":1})",
					 R"({"op":"hosts","compiler":"x86_64-linux-gnu"})",
					 R"({"op":"hosts","compiler":"x86/64 12"})", R"({"op":"hosts","compiler":12})",
					 R"({"op":"hosts","failing":"10.0.0.2:3632"})", R"({"op":"hosts","failing":[3632]})",
					 R"({"op":"hosts","failing":["10.0.0.2"]})", R"({"op":"hosts","failing":["10.0.0.2:0"]})",
					 R"({"op":"hosts","failing":[":3632"]})", R"({"op":"hosts","failing":["h:99999"]})",
					 "{\"op\":\"hosts\"", "\xff\xfe" }) {
			const nlohmann::json r = reply(bad);
			INFO(bad);
			CHECK(r["ok"] == false);
			CHECK_FALSE(r["error"].get<std::string>().empty());
		}
	}

	TEST_CASE("a carriage return before the newline is tolerated")
	{
		CHECK(reply("{\"op\":\"hosts\"}\r")["ok"] == true);
	}

	TEST_CASE("the status table shows every server and the line")
	{
		const nlohmann::json r = reply(R"({"op":"hosts","local_slots":2})", { entry("distcc@a", "10.0.0.2", 4) });
		const std::string table = statusTable(r);
		CHECK(table.find("distcc@a") != std::string::npos);
		CHECK(table.find("10.0.0.2") != std::string::npos);
		CHECK(table.find("stock distccd") != std::string::npos);
		CHECK(table.find("line (test): 10.0.0.2/4 localhost/2") != std::string::npos);
	}

	TEST_CASE("the status table never passes control characters from the network")
	{
		DirectoryEntry e = entry("distcc@x\x1b[31m\x01" "evil", "10.0.0.2", 4);
		const nlohmann::json r = reply(R"({"op":"hosts"})", { e });
		const std::string table = statusTable(r);
		for (char c : table)
			CHECK((c == '\n' || (c >= 0x20 && c <= 0x7e)));
		CHECK(table.find("distcc@x?[31m?evil") != std::string::npos);
	}

	TEST_CASE("a distccd advertised twice is listed once; the other record says why")
	{
		std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 4),
							entry("distcc@a-stock", "10.0.0.2", 4) };
		entries[0].server.sample = LoadSample{};
		entries[0].stock = false;
		const nlohmann::json r = reply(R"({"op":"hosts","local_slots":1})", entries);
		CHECK(r["line"] == "10.0.0.2/4 localhost/1");
		REQUIRE(r["servers"].size() == 2);
		CHECK(r["servers"][0]["name"] == "distcc@a");
		CHECK(r["servers"][1]["excluded"] == "same address and port as distcc@a");
	}

	TEST_CASE("a request that hands the line out reserves the jobs its demand puts on each server")
	{
		std::vector<DirectoryEntry> entries = { entry("a", "10.0.0.2", 4), entry("b", "10.0.0.3", 4) };
		entries[0].server.id = "00000000000000aa";
		entries[1].server.id = "00000000000000bb";
		for (DirectoryEntry &e : entries) {
			e.stock = false;
			e.server.sample = LoadSample{};
		}
		const FarmState none;

		// A look reserves nothing.
		HostsAnswer look = answerHosts({ { "op", "hosts" } }, entries, none, 1.0, "test");
		CHECK_FALSE(look.reserve);

		HostsAnswer use = answerHosts({ { "op", "hosts" }, { "want", 3 } }, entries, none, 1.0, "test");
		CHECK(use.reserve);
		CHECK(use.want == 3);
		std::uint32_t sum = 0;
		for (const auto &[id, count] : use.reservations) {
			CHECK((id == 0xaa || id == 0xbb));
			sum += count;
		}
		CHECK(sum == 3);
		CHECK(use.reservations.size() == 2); // breadth-first: both hosts get a job

		// Asking for more than the line offers: the demand says so, the
		// reservations stop at the slots.
		HostsAnswer more = answerHosts({ { "op", "hosts" }, { "want", 50 }, { "reserve", true } }, entries,
					       none, 1.0, "test");
		CHECK(more.want == 50);
		sum = 0;
		for (const auto &[id, count] : more.reservations)
			sum += count;
		CHECK(sum == 8);

		// Others' reservations fill server a: it goes after b.
		const std::vector<std::uint32_t> reserved = { 4, 0 };
		for (int i = 0; i < 20; ++i) {
			HostsAnswer a = answerHosts({ { "op", "hosts" }, { "want", 1 } }, entries,
						    FarmState{ reserved, 0, {}, {} }, 1.0, "test");
			REQUIRE(a.reservations.size() == 1);
			CHECK(a.reservations.front().first == 0xbb);
			CHECK(a.view["servers"][1]["reserved"] == 4);
		}
		CHECK_THROWS_AS(answerHosts({ { "op", "hosts" }, { "want", -1 } }, entries, none, 1.0, "test"),
				std::invalid_argument);
		CHECK_THROWS_AS(answerHosts({ { "op", "hosts" }, { "reserve", "yes" } }, entries, none, 1.0, "test"),
				std::invalid_argument);
	}

	TEST_CASE("only servers running the client's compiler are listed; options where offered")
	{
		std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 4), entry("distcc@b", "10.0.0.3", 4),
							entry("distcc@c", "10.0.0.4", 4) };
		entries[0].server.compilers = { { "x86_64-linux-gnu", "12" }, { "aarch64-linux-gnu", "12" } };
		entries[0].server.lzo = entries[0].server.cpp = true;
		entries[1].server.compilers = { { "x86_64-linux-gnu", "13" } };
		entries[2].server.compilers.clear(); // unknown (gossip only): not refused
		const nlohmann::json r = reply(R"({"op":"hosts","compiler":"aarch64-linux-gnu 12","cpp":true})", entries);
		REQUIRE(r["ok"] == true);
		const std::string line = r["line"];
		CHECK(line.find("10.0.0.2/4,lzo,cpp") != std::string::npos); // pump needs lzo: both
		CHECK(line.find("10.0.0.3") == std::string::npos);
		CHECK(line.find("10.0.0.4/4") != std::string::npos);
		CHECK(line.find("10.0.0.4/4,") == std::string::npos); // it offers neither
		for (const auto &s : r["servers"])
			if (s["name"] == "distcc@b")
				CHECK(s["excluded"] == "compiler not offered");
	}

	TEST_CASE("hosts the client's distcc backs off from are left out, by request or from the lock dir")
	{
		std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 4), entry("distcc@b", "10.0.0.3", 4),
							entry("distcc@c", "fe80::9", 4) };
		entries[1].server.port = 4000;
		entries[2].server.addresses = { *Address::parse("fe80::9", 2) };
		nlohmann::json r = reply(R"({"op":"hosts","local_slots":1,"failing":["10.0.0.2:3632","10.0.0.3:3632"]})",
					 entries);
		REQUIRE(r["ok"] == true);
		std::string line = r["line"];
		CHECK(line.find("10.0.0.2") == std::string::npos);
		CHECK(line.find("10.0.0.3:4000/4") != std::string::npos); // another port: not the failing one
		for (const auto &s : r["servers"])
			if (s["name"] == "distcc@a")
				CHECK(s["excluded"].get<std::string>().starts_with("failing"));

		// As distcc names an IPv6 host: brackets and scope do not matter.
		r = reply(R"({"op":"hosts","local_slots":1,"failing":["[fe80::9%eth0]:3632"]})", entries);
		CHECK(r["line"].get<std::string>().find("fe80::9") == std::string::npos);
		CHECK(r["line"].get<std::string>().find("10.0.0.2/4") != std::string::npos);

		// The daemon's own reading of a lock dir (hosts-file mode) counts too.
		FarmState farm;
		farm.failing = { { "10.0.0.3", 4000 } };
		const HostsAnswer a = answerHosts({ { "op", "hosts" }, { "local_slots", 1 } }, entries, farm, 1.0, "test");
		CHECK(a.view["line"].get<std::string>().find("10.0.0.3") == std::string::npos);
	}

	TEST_CASE("a server below the minimum speed is left out as too slow")
	{
		std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 4), entry("distcc@b", "10.0.0.3", 4) };
		entries[1].server.speed = 0.3;
		const nlohmann::json r = reply(R"({"op":"hosts","local_slots":1,"speed":1.0})", entries);
		CHECK(r["line"] == "10.0.0.2/4 localhost/1");
		CHECK(r["servers"][1]["excluded"] == "too slow");
		// Against a slower client it is fast enough.
		CHECK(reply(R"({"op":"hosts","local_slots":1,"speed":0.5})", entries)["servers"][1]["excluded"].is_null());
	}

	TEST_CASE("a hosts file is replaced whole, never left half written")
	{
		char dir[] = "/tmp/dmdns-hosts-XXXXXX";
		REQUIRE(::mkdtemp(dir));
		const std::string path = std::string(dir) + "/hosts";
		writeAtomically(path, "10.0.0.2/4 localhost/2\n");
		writeAtomically(path, "10.0.0.3/8\n");
		std::ifstream in(path);
		const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
		CHECK(text == "10.0.0.3/8\n");
		CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) ==
		      1); // no temporary left behind
		CHECK_THROWS_AS(writeAtomically(std::string(dir) + "/missing/hosts", "x\n"), std::system_error);
		std::filesystem::remove_all(dir);
	}
}

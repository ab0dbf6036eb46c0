// Unit tests of the query protocol and the JSON view, without sockets or Avahi.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/demand_ledger.h"
#include "daemon/hosts_file.h"
#include "daemon/hosts_query.h"
#include "daemon/json_codec.h"
#include "daemon/query_server.h"
#include "daemon/socket_dir.h"
#include "daemon/view.h"
#include "support/entries.h"
#include "support/fake_clock.h"
#include "support/query_harness.h"
#include "support/socket_client.h"

using namespace dmdns;

namespace {

// A stock server: no sample, so its load is unknown.
DirectoryEntry entry(const char *name, const char *address, std::uint32_t slots)
{
	DirectoryEntry e = test::entry(name, address, slots);
	e.stock = true;
	return e;
}

// This machine as the tests see it: two slots, the reference speed.
const LocalMachine kLocal{ 2, 1.0 };

// The answer to a request object, decoded as the socket decodes it.
HostsAnswer ask(const nlohmann::json &request, const std::vector<DirectoryEntry> &entries,
		const FarmState &farm = {})
{
	return answerHosts(std::get<HostsRequest>(codec::decodeRequest(request)), entries, farm, kLocal, "test");
}

nlohmann::json reply(std::string_view line, const std::vector<DirectoryEntry> &entries = {})
{
	const std::string text = codec::answerLine(line, [&](const Request &request, const Caller &) {
		return codec::encode(answerHosts(std::get<HostsRequest>(request), entries, {}, kLocal, "test").view);
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
		const std::string table = statusTable(codec::decodeView(r));
		CHECK(table.find("distcc@a") != std::string::npos);
		CHECK(table.find("10.0.0.2") != std::string::npos);
		CHECK(table.find("stock distccd") != std::string::npos);
		CHECK(table.find("line (test): 10.0.0.2/4 localhost/2") != std::string::npos);
	}

	TEST_CASE("the status table never passes control characters from the network")
	{
		DirectoryEntry e = entry("distcc@x\x1b[31m\x01"
					 "evil",
					 "10.0.0.2", 4);
		const nlohmann::json r = reply(R"({"op":"hosts"})", { e });
		const std::string table = statusTable(codec::decodeView(r));
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

	TEST_CASE("this machine's own record is recognised by its host id, not its name: listed once")
	{
		// h1 serves and asks; its record has a name and address of no
		// help, only the host id says it is this machine.
		std::vector<DirectoryEntry> entries = { test::entry("h1", "10.99.0.1", 4), test::entry("h2", "10.99.0.2", 3),
							test::entry("h3", "10.99.0.3", 2) };
		entries[0].server.id = "00000000000000e1";
		entries[0].server.cpus = 2;
		entries[1].server.id = "00000000000000e2";
		entries[2].server.id = "00000000000000e3";
		HostsRequest request;
		request.localSlots = 4; // enough to be listed (a fifth)
		for (std::uint64_t seed = 1; seed <= 10; ++seed) {
			const HostsAnswer answer =
				answerHosts(request, entries, {}, { 4, 1.0, "00000000000000e1" }, "test", seed);
			CAPTURE(answer.view.line);
			CHECK(answer.view.line.find("localhost") == std::string::npos);
			CHECK(answer.view.line.find("10.99.0.1/4") != std::string::npos);
			CHECK(answer.view.jobs == 9);
		}
		// Another machine's id: h1 is a server like the others, localhost
		// is this machine.
		const HostsAnswer other = answerHosts(request, entries, {}, { 4, 1.0, "00000000000000ff" }, "test", 1);
		CHECK(other.view.line.find("localhost/4") != std::string::npos);
		// A stock record carrying the same id is not this machine's word.
		entries[0].stock = true;
		const HostsAnswer stock = answerHosts(request, entries, {}, { 4, 1.0, "00000000000000e1" }, "test", 1);
		CHECK(stock.view.line.find("localhost/4") != std::string::npos);
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
		HostsAnswer look = ask({ { "op", "hosts" } }, entries, none);
		CHECK_FALSE(look.reserve);

		HostsAnswer use = ask({ { "op", "hosts" }, { "want", 3 } }, entries, none);
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
		HostsAnswer more = ask({ { "op", "hosts" }, { "want", 9 }, { "reserve", true }, { "local_slots", 1 } },
				       entries, none);
		CHECK(more.want == 8); // the farm's slots: no more can run remotely
		CHECK(more.view.want == 8u);
		CHECK(more.view.wantAsked == 9u);
		sum = 0;
		for (const auto &[id, count] : more.reservations)
			sum += count;
		CHECK(sum == 8);

		// Others' reservations fill server a: it goes after b.
		const std::vector<std::uint32_t> reserved = { 4, 0 };
		for (int i = 0; i < 20; ++i) {
			HostsAnswer a = ask({ { "op", "hosts" }, { "want", 1 } }, entries, FarmState{ reserved, 0, {}, {}, {} });
			REQUIRE(a.reservations.size() == 1);
			CHECK(a.reservations.front().first == 0xbb);
			CHECK(a.view.servers[1].reserved == 4);
		}
		CHECK_THROWS_AS(ask({ { "op", "hosts" }, { "want", -1 } }, entries, none), std::invalid_argument);
		CHECK_THROWS_AS(ask({ { "op", "hosts" }, { "reserve", "yes" } }, entries, none), std::invalid_argument);
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
		const HostsAnswer a = ask({ { "op", "hosts" }, { "local_slots", 1 } }, entries, farm);
		CHECK(a.view.line.find("10.0.0.3") == std::string::npos);
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

	TEST_CASE("a want beyond the farm's slots is clamped to them and counted as that much demand")
	{
		std::vector<DirectoryEntry> entries = { entry("a", "10.0.0.2", 4), entry("b", "10.0.0.3", 6) };
		const FarmState none;
		const HostsAnswer huge = ask({ { "op", "hosts" }, { "want", 1000000 }, { "local_slots", 2 } }, entries, none);
		CHECK(huge.want == 4 + 6);
		CHECK(huge.view.want == 10u);
		CHECK(huge.view.wantAsked == 1000000u);
		CHECK(huge.reserve);
		// Against other clients' demand its fair share is that of a client
		// asking for the whole farm, not of a million jobs.
		const HostsAnswer shared = ask({ { "op", "hosts" }, { "want", 1000000 }, { "local_slots", 2 } }, entries,
					       FarmState{ {}, 10, {}, {}, {} });
		CHECK(shared.view.share == 5u); // 10 slots x 10 / (10 + 10)
		// No servers: the farm is this machine.
		CHECK(ask({ { "op", "hosts" }, { "want", 50 }, { "local_slots", 3 } }, {}, none).want == 3);
	}
}

namespace {

// A reply the size of a large farm's, so that a client that does not read
// fills its queue quickly.
nlohmann::json echo(const Request &request, const Caller &)
{
	return nlohmann::json{ { "echo", codec::opName(request) }, { "pad", std::string(8192, 'x') } };
}

// The harness with the echo handler unless given another.
struct Harness : test::QueryHarness {
	explicit Harness(QueryLimits limits, codec::Handler handler = echo)
		: QueryHarness(std::move(limits), std::move(handler))
	{
	}
};

using test::drain;
using test::Received;
using test::send;

} // namespace

TEST_SUITE("query socket")
{
	TEST_CASE("a connection without a complete request is closed after the idle time; a request resets it")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.idle = std::chrono::milliseconds(300);
		Harness h(limits);
		const int half = h.connect();
		const int silent = h.connect();
		const int busy = h.connect();
		send(half, R"({"op":)");
		Received r, quiet, answered;
		const auto start = std::chrono::steady_clock::now();
		// The busy client asks every 100 ms: never idle for 300 ms.
		auto nextAsk = start;
		int asked = 0;
		CHECK(h.runUntil([&] {
			if (std::chrono::steady_clock::now() >= nextAsk && asked < 8) {
				send(busy, "{\"op\":\"hosts\"}\n");
				++asked;
				nextAsk += std::chrono::milliseconds(100);
			}
			drain(half, r);
			drain(silent, quiet);
			drain(busy, answered);
			return r.eof && quiet.eof && asked == 8;
		}));
		const auto waited = std::chrono::steady_clock::now() - start;
		CHECK(waited >= std::chrono::milliseconds(300));
		CHECK(r.data.find("no complete request within 300 ms") != std::string::npos);
		CHECK(quiet.data.find("\"ok\":false") != std::string::npos);
		// 800 ms in, the busy client is still served.
		CHECK_FALSE(answered.eof);
		CHECK(std::count(answered.data.begin(), answered.data.end(), '\n') >= 7);
		CHECK(h.server->connections() == 1);
	}

	TEST_CASE("one ordinary user gets at most its cap; the reserved room is kept for root and the daemon's user")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.total = 8;
		limits.reserved = 3;
		limits.perUid = 4;
		// The test's own user stands for an ordinary one first.
		limits.privileged = {};
		{
			Harness h(limits);
			std::vector<int> fds;
			for (int i = 0; i < 6; ++i)
				fds.push_back(h.connect());
			std::vector<Received> got(fds.size());
			CHECK(h.runUntil([&] {
				for (std::size_t i = 0; i < fds.size(); ++i)
					drain(fds[i], got[i]);
				return got[4].eof && got[5].eof && h.server->connections() == 4;
			}));
			for (int i = 0; i < 4; ++i)
				CHECK_FALSE(got[i].eof);
			CHECK(got[5].data.find("too many connections") != std::string::npos);
			// The served ones still answer.
			send(fds[0], "{\"op\":\"hosts\"}\n");
			CHECK(h.runUntil([&] {
				drain(fds[0], got[0]);
				return got[0].data.find("\"echo\":\"hosts\"") != std::string::npos;
			}));
		}
		{
			// Ordinary users together stop at total - reserved.
			limits.perUid = 100;
			Harness h(limits);
			for (int i = 0; i < 7; ++i)
				h.connect();
			CHECK(h.runUntil([&] { return h.server->connections() == 5; }));
			CHECK(h.runUntil([&] {
				Received r;
				drain(h.fds.back(), r);
				return r.eof;
			}));
			CHECK(h.server->connections() == 5);
		}
		{
			// A privileged user is held to neither the per-user cap nor the
			// reserve, only to the total.
			limits.perUid = 4;
			limits.privileged = { ::geteuid() };
			Harness h(limits);
			for (int i = 0; i < 9; ++i)
				h.connect();
			CHECK(h.runUntil([&] {
				Received r;
				drain(h.fds.back(), r);
				return r.eof && h.server->connections() == 8;
			}));
		}
	}

	TEST_CASE("a client that pipelines requests and never reads is dropped; others are still served")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.writeQueue = 64 * 1024;
		Harness h(limits);
		const int hog = h.connect();
		// Small kernel buffers, so that the queue on our side grows soon.
		const int small = 4096;
		::setsockopt(hog, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		std::string requests;
		for (int i = 0; i < 200; ++i)
			requests += "{\"op\":\"hosts\"}\n";
		std::size_t sent = 0;
		bool dropped = h.runUntil([&] {
			if (sent < 20 * requests.size()) {
				const ssize_t n = ::send(hog, requests.data(), requests.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n > 0)
					sent += static_cast<std::size_t>(n);
			}
			return h.server->connections() == 0;
		});
		CHECK(dropped);
		MESSAGE("the hog sent " << sent << " bytes of requests before it was dropped");
		// Each reply is over 8 KiB: with a 64 KiB bound the hog got far
		// fewer replies queued than it asked for.
		CHECK(sent > 64 * 1024 / 8192 * 15);
		const int good = h.connect();
		send(good, "{\"op\":\"hosts\"}\n");
		Received r;
		CHECK(h.runUntil([&] {
			drain(good, r);
			return r.data.find('\n') != std::string::npos;
		}));
		CHECK(r.data.find("\"ok\":true") != std::string::npos);
	}
}

namespace {

// The daemon's build lease in small: a query server whose build requests
// are told to a DemandLedger, and whose closed connections end them.
struct Leases {
	test::FakeClock clock;
	std::vector<std::uint32_t> told;
	std::vector<std::uint64_t> closed;
	std::vector<std::uint64_t> connections; // the Caller's, per request
	DemandLedger ledger{ clock, [this](const DemandLedger::Reservations &, std::uint32_t want, std::uint32_t) { told.push_back(want); },
			     [] { return std::map<std::uint32_t, std::uint32_t>{}; }, [] { return 4u; } };
	std::vector<DirectoryEntry> entries = { entry("distcc@a", "10.0.0.2", 8), entry("distcc@b", "10.0.0.3", 8) };
	Harness harness;

	explicit Leases(QueryLimits limits = QueryLimits::defaults())
		: harness(std::move(limits), [this](const Request &request, const Caller &caller) {
			  const auto &query = std::get<HostsRequest>(request);
			  connections.push_back(caller.connection);
			  const HostsAnswer answer = answerHosts(query, entries, {}, kLocal, "test");
			  if (query.build)
				  ledger.building(caller.connection, caller.uid.value(), answer.want, answer.reservations,
						  answer.localSlots);
			  return codec::encode(answer.view);
		  })
	{
		harness.server->onClosed = [this](std::uint64_t connection, std::optional<uid_t> uid) {
			CHECK(uid == ::geteuid());
			closed.push_back(connection);
			ledger.ended(connection);
		};
	}

	// Sends @request on @fd and waits for its reply line.
	nlohmann::json ask(int fd, std::string_view request)
	{
		send(fd, request);
		Received r;
		REQUIRE(harness.runUntil([&] {
			drain(fd, r);
			return r.data.find('\n') != std::string::npos;
		}));
		return nlohmann::json::parse(r.data.substr(0, r.data.find('\n')));
	}
};

} // namespace

TEST_SUITE("query socket")
{
	TEST_CASE("a build's demand stands while its connection is open and is withdrawn at once when it closes")
	{
		Leases l;
		const int first = l.harness.connect();
		const nlohmann::json reply = l.ask(first, "{\"op\":\"hosts\",\"build\":true,\"want\":6}\n");
		// The reply is the hosts view; the demand was told before it.
		CHECK(reply["ok"] == true);
		CHECK(reply["want"] == 6);
		CHECK(reply["line"].get<std::string>().find("10.0.0.2") != std::string::npos);
		REQUIRE(l.told.size() == 1);
		CHECK(l.told.back() == 6);
		// No distcc client runs, long past a line's hold: the build stands.
		l.clock.advance(DemandLedger::kQueryHold + std::chrono::seconds(3));
		CHECK(l.told.back() == 6);
		CHECK(l.ledger.demand() == 6);
		// A renew on the same connection replaces the want.
		CHECK(l.ask(first, "{\"op\":\"hosts\",\"build\":true,\"want\":3}\n")["ok"] == true);
		CHECK(l.told.back() == 3);
		CHECK(l.ledger.builds() == 1);
		// A second build on another connection adds its want.
		const int second = l.harness.connect();
		CHECK(l.ask(second, "{\"op\":\"hosts\",\"build\":true,\"want\":2}\n")["ok"] == true);
		CHECK(l.told.back() == 5);
		CHECK(l.ledger.builds() == 2);
		REQUIRE(l.connections.size() == 3);
		CHECK(l.connections[0] != 0);
		CHECK(l.connections[0] == l.connections[1]);
		CHECK(l.connections[2] != l.connections[0]);
		// A plain query or a look on a third connection is no build.
		const int look = l.harness.connect();
		CHECK(l.ask(look, "{\"op\":\"hosts\",\"want\":4}\n")["ok"] == true);
		CHECK(l.ledger.builds() == 2);
		// The first build's runner exits: the lower demand is told as soon
		// as the daemon sees the close. The ledger's clock stands still, so
		// no census can have told it.
		l.harness.close(first);
		CHECK(l.harness.runUntil([&] { return l.told.back() == 2; }));
		CHECK(l.closed == std::vector<std::uint64_t>{ l.connections[0] });
		CHECK(l.ledger.builds() == 1);
		l.harness.close(look);
		l.harness.close(second);
		CHECK(l.harness.runUntil([&] { return l.closed.size() == 3; }));
		CHECK(l.told.back() == 0);
		CHECK(l.ledger.demand() == 0);
		CHECK(l.ledger.builds() == 0);
		l.harness.fds.clear();
	}

	TEST_CASE("a build whose runner stops renewing ends with the idle timeout; a refused build request holds nothing")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.idle = std::chrono::milliseconds(300);
		Leases l(limits);
		const int stuck = l.harness.connect();
		CHECK(l.ask(stuck, "{\"op\":\"hosts\",\"build\":true,\"want\":5}\n")["ok"] == true);
		CHECK(l.told.back() == 5);
		Received r;
		const auto start = std::chrono::steady_clock::now();
		CHECK(l.harness.runUntil([&] {
			drain(stuck, r);
			return r.eof;
		}));
		CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(250));
		CHECK(r.data.find("no complete request within 300 ms") != std::string::npos);
		CHECK(l.told.back() == 0);
		CHECK(l.ledger.builds() == 0);
		REQUIRE(l.closed.size() == 1);

		const int bad = l.harness.connect();
		const nlohmann::json refused = l.ask(bad, "{\"op\":\"hosts\",\"build\":true,\"want\":4,\"reserve\":false}\n");
		CHECK(refused["ok"] == false);
		CHECK(l.ledger.builds() == 0);
		CHECK(l.told.size() == 2);
	}
}

TEST_SUITE("socket directory")
{
	TEST_CASE("the daemon creates its directory with the documented mode and never changes one it did not create")
	{
		char tmpl[] = "/tmp/dmdns-sockdir-XXXXXX";
		REQUIRE(::mkdtemp(tmpl));
		const std::string base = tmpl;
		const std::string made = base + "/made";
		prepareSocketDirectory(made);
		struct stat st { };
		REQUIRE(::lstat(made.c_str(), &st) == 0);
		CHECK((st.st_mode & 07777) == socketDirectoryMode());
		CHECK(socketDirectoryMode() == (::geteuid() == 0 ? 0755u : 0700u));

		const std::string shared = base + "/shared";
		REQUIRE(::mkdir(shared.c_str(), 0700) == 0);
		REQUIRE(::chmod(shared.c_str(), 01777) == 0);
		prepareSocketDirectory(shared);
		REQUIRE(::lstat(shared.c_str(), &st) == 0);
		CHECK((st.st_mode & 07777) == 01777);

		// A link is refused, and what it points to is left alone.
		const std::string target = base + "/target";
		REQUIRE(::mkdir(target.c_str(), 0750) == 0);
		const std::string link = base + "/link";
		REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
		CHECK_THROWS_WITH_AS(prepareSocketDirectory(link), doctest::Contains(link.c_str()), std::runtime_error);
		REQUIRE(::lstat(target.c_str(), &st) == 0);
		CHECK((st.st_mode & 07777) == 0750);

		// Another user's directory is refused, by name.
		if (::geteuid() == 0) {
			const std::string foreign = base + "/foreign";
			REQUIRE(::mkdir(foreign.c_str(), 0700) == 0);
			REQUIRE(::chown(foreign.c_str(), 65534, 65534) == 0);
			CHECK_THROWS_WITH_AS(prepareSocketDirectory(foreign), doctest::Contains("belongs to uid 65534"),
					     std::runtime_error);
			// A client refuses it too.
			const SocketCheck check = checkSocket(foreign + "/socket", 1234);
			CHECK(check.verdict == SocketCheck::Verdict::Refused);
			CHECK(check.why.find(foreign) != std::string::npos);
			// ... unless it is the client's own.
			CHECK(checkSocket(foreign + "/socket", 65534).verdict == SocketCheck::Verdict::Absent);
		}
		CHECK(checkSocket(shared + "/socket", ::geteuid()).verdict == SocketCheck::Verdict::Refused);
		CHECK(checkSocket(link + "/socket", ::geteuid()).verdict == SocketCheck::Verdict::Refused);
		CHECK(checkSocket(base + "/none/socket", ::geteuid()).verdict == SocketCheck::Verdict::Absent);
		std::filesystem::remove_all(base);
	}

	TEST_CASE("clients try their own daemon's socket, then the system daemon's")
	{
		const std::vector<std::string> order = socketSearchOrder();
		REQUIRE_FALSE(order.empty());
		CHECK(order.back() == kSystemSocket);
		CHECK(order.front() == ownSocketPath());
		if (::geteuid() != 0 && !systemUid())
			CHECK(order.size() == 2);
	}
}

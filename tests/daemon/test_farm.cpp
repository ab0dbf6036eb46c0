// Unit tests of the live view: the history ring's bound, the farm object and its JSON, and the query socket's watchers.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon/farm_view.h"
#include "daemon/history.h"
#include "daemon/hosts_query.h"
#include "daemon/json_codec.h"
#include "daemon/query_server.h"
#include "distcc-mdns/gossip_wire.h"
#include "support/entries.h"
#include "support/query_harness.h"
#include "support/socket_client.h"

using namespace dmdns;

namespace {

// A server of ours: a gossip id and a load sample @ageMs old.
DirectoryEntry server(std::uint64_t id, const char *address, std::uint32_t slots, std::uint32_t running,
		      std::int64_t ageMs)
{
	const std::string name = "distcc@s" + std::to_string(id);
	DirectoryEntry e = test::entry(name.c_str(), address, slots);
	e.server.id = wire::formatNodeId(id);
	e.server.sample = LoadSample{ running, 0.5, 1, 1, std::chrono::milliseconds(ageMs) };
	return e;
}

const LocalMachine kLocal{ 2, 1.0 };

// This machine's look at @entries, as the daemon takes it.
View look(const std::vector<DirectoryEntry> &entries, const std::vector<std::uint32_t> &reserved = {})
{
	HostsRequest request;
	request.reserve = false;
	return answerHosts(request, entries, FarmState{ reserved, 0, {}, {}, {} }, kLocal, "daemon").view;
}

OwnClient self()
{
	OwnClient c;
	c.node = 0xc0ffee;
	c.host = "here";
	c.want = 12;
	c.localSlots = 2;
	c.holding = 3;
	return c;
}

} // namespace

TEST_SUITE("history")
{
	TEST_CASE("the worst case, 100 servers and 100 clients for 10 minutes, stays within the stated bound")
	{
		History h;
		std::vector<History::Point> servers, clients;
		for (std::uint64_t s = 0; s < History::kSamples; ++s) {
			servers.clear();
			clients.clear();
			for (std::uint64_t k = 1; k <= 100; ++k) {
				servers.push_back({ k, static_cast<std::uint32_t>(s + k), static_cast<std::uint32_t>(k) });
				clients.push_back({ k, static_cast<std::uint32_t>(2 * s), static_cast<std::uint32_t>(s) });
			}
			h.tick(servers, clients);
		}
		CHECK(h.servers() == 100);
		CHECK(h.clients() == 100);
		CHECK(h.bytes() <= History::maxBytes());
		// 2 x 100 rings of 600 pairs of 16 bits: about 480 KB with the nodes.
		CHECK(h.bytes() >= 200 * History::kSamples * 4);
		CHECK(h.bytes() < 600 * 1024);
		CHECK(History::maxBytes() < 1400 * 1024); // what the header and docs state
		const History::Series s7 = h.server(7);
		REQUIRE(s7.first.size() == History::kSamples);
		CHECK(s7.first.front() == 7);	   // the first second, oldest first
		CHECK(s7.first.back() == 599 + 7); // the last
		CHECK(s7.second.back() == 7);
		// Ten more seconds: the ring keeps the last 600.
		for (int i = 0; i < 10; ++i)
			h.tick(servers, clients);
		CHECK(h.server(7).first.size() == History::kSamples);
		CHECK(h.server(7).first.front() == 10 + 7);
		CHECK(h.bytes() <= History::maxBytes());
	}

	TEST_CASE("servers beyond the cap are not kept, and silent ones make room")
	{
		History h;
		std::vector<History::Point> many;
		for (std::uint64_t k = 1; k <= 300; ++k)
			many.push_back({ k, 1, 0 });
		h.tick(many, {});
		CHECK(h.servers() == History::kMaxSeries);
		CHECK(h.server(300).first.empty());
		CHECK(h.server(1).first.size() == 1);
		CHECK(h.bytes() <= History::maxBytes());
		// Server 300 keeps coming; the first 256 go silent, and once they
		// were silent for a whole ring it gets a place.
		const History::Point late{ 300, 9, 0 };
		for (std::size_t s = 1; s < History::kSamples; ++s)
			h.tick(std::span(&late, 1), {});
		CHECK(h.server(300).first.empty());
		CHECK(h.servers() == History::kMaxSeries);
		h.tick(std::span(&late, 1), {});
		CHECK(h.server(300).first == std::vector<std::uint32_t>{ 9 });
		CHECK(h.server(1).first.empty());
		CHECK(h.servers() == 1);
	}

	TEST_CASE("a second without a record reads 0, and counts beyond 16 bits are clamped")
	{
		History h;
		const History::Point a{ 5, 3, 1 }, big{ 5, 100000, 0 };
		h.tick(std::span(&a, 1), {});
		h.tick({}, {});
		h.tick({}, {});
		h.tick(std::span(&big, 1), {});
		const History::Series s = h.server(5);
		CHECK(s.first == std::vector<std::uint32_t>{ 3, 0, 0, 65535 });
		CHECK(s.second == std::vector<std::uint32_t>{ 1, 0, 0, 0 });
		// A key at most once a second.
		const History::Point twice[] = { { 6, 1, 1 }, { 6, 2, 2 } };
		h.tick(twice, {});
		CHECK(h.server(6).first == std::vector<std::uint32_t>{ 1 });
	}
}

TEST_SUITE("farm")
{
	TEST_CASE("fair shares split an overloaded farm by demand, and are absent while every want fits")
	{
		CHECK(fairShares({ 10, 20 }, 40).empty());
		// 20 slots x 20 / 30 and x 10 / 30: the 30 counts as the 20 slots.
		CHECK(fairShares({ 30, 10 }, 20) == std::vector<std::uint32_t>{ 13, 6 });
		CHECK(fairShares({ 12, 12, 12 }, 24) == std::vector<std::uint32_t>{ 8, 8, 8 });
		// A want beyond the farm counts as the farm.
		CHECK(fairShares({ 1000000, 20 }, 20) == std::vector<std::uint32_t>{ 10, 10 });
	}

	TEST_CASE("the farm object holds the hosts reply's servers, with totals that add them up")
	{
		std::vector<DirectoryEntry> entries = { server(1, "10.0.0.2", 8, 3, 200), server(2, "10.0.0.3", 4, 4, 5000),
							server(3, "10.0.0.4", 6, 1, 100) };
		entries[2].server.state = ServerState::Drain;
		const std::vector<std::uint32_t> reserved = { 2, 0, 0 };
		const View v = look(entries, reserved);
		const FarmView farm = makeFarmView(v, nullptr, self(), std::chrono::steady_clock::now());
		CHECK(farm.line == v.line);
		CHECK(farm.jobs == v.jobs);
		REQUIRE(farm.servers.size() == 3);
		const nlohmann::json hosts = codec::encode(v);
		const nlohmann::json j = codec::encode(farm);
		// Every field of every server object of the hosts reply, same value.
		for (std::size_t i = 0; i < 3; ++i)
			for (const auto &item : hosts["servers"][i].items()) {
				INFO(item.key());
				CHECK(j["servers"][i][item.key()] == item.value());
			}
		std::map<std::string, bool> fresh;
		for (const nlohmann::json &s : j["servers"])
			fresh[s["name"]] = s["fresh"];
		CHECK(fresh["distcc@s1"]);
		CHECK_FALSE(fresh["distcc@s2"]); // a 5 s old sample
		// Drained servers do not count.
		CHECK(farm.totals.servers == 3);
		CHECK(farm.totals.up == 2);
		CHECK(farm.totals.slots == 12);
		CHECK(farm.totals.busy == 7);
		CHECK(farm.totals.reserved == 2);
		CHECK(farm.totals.wanted == 12);
		CHECK(farm.totals.waiting == 5);
		CHECK(j["totals"]["utilisation"].get<double>() == doctest::Approx(7.0 / 12.0));
		// This machine is the first client.
		REQUIRE(j["clients"].size() == 1);
		CHECK(j["clients"][0]["self"] == true);
		CHECK(j["clients"][0]["id"] == wire::formatNodeId(0xc0ffee));
		CHECK(j["clients"][0]["name"] == "here");
		CHECK(j["clients"][0]["want"] == 12);
		CHECK(j["clients"][0]["holding"] == 3);
		CHECK(j["clients"][0]["share"].is_null()); // 12 fits 12 slots
		CHECK(j["clients"][0]["running"].is_null());
		CHECK(j["clients"][0]["local_jobs"].is_null());
	}

	TEST_CASE("the JSON carries every key of the schema")
	{
		FarmView farm = makeFarmView(look({ server(1, "10.0.0.2", 8, 3, 200) }), nullptr, self(),
					     std::chrono::steady_clock::now());
		History h;
		record(h, farm);
		record(h, farm);
		addHistory(farm, h);
		farm.seq = 17;
		farm.queries.farm = 3;
		const nlohmann::json j = codec::encode(farm);
		for (const char *key : { "version", "seq", "node", "host", "time_ms", "line", "jobs", "totals", "servers",
					 "clients", "stats", "queries" })
			CHECK_MESSAGE(j.contains(key), key);
		for (const char *key :
		     { "servers", "up", "slots", "busy", "reserved", "wanted", "waiting", "utilisation", "clients" })
			CHECK_MESSAGE(j["totals"].contains(key), key);
		for (const char *key : { "fresh", "clients", "history" })
			CHECK_MESSAGE(j["servers"][0].contains(key), key);
		for (const char *key : { "id", "name", "address", "self", "want", "local_slots", "share", "holding",
					 "running", "local_jobs", "age_ms", "history" })
			CHECK_MESSAGE(j["clients"][0].contains(key), key);
		for (const char *key : { "hosts", "stats", "farm", "watch", "errors", "refused" })
			CHECK_MESSAGE(j["queries"].contains(key), key);
		CHECK(j["version"] == 1);
		CHECK(j["seq"] == 17);
		CHECK(j["queries"]["farm"] == 3);
		CHECK(j["servers"][0]["history"]["busy"] == nlohmann::json::array({ 3, 3 }));
		CHECK(j["servers"][0]["history"]["reserved"] == nlohmann::json::array({ 0, 0 }));
		CHECK(j["clients"][0]["history"]["want"] == nlohmann::json::array({ 12, 12 }));
		// The stats object is the "stats" reply's.
		CHECK(j["stats"] == codec::encode(farm.stats));
		CHECK(j["stats"].contains("gossip"));
		CHECK(j["stats"].contains("speed"));
		// Without the stock probe (--probe-stock=no) its object is null;
		// with it, its counters by name.
		CHECK(j["stats"]["stock_probe"].is_null());
		FarmStats probed = farm.stats;
		probed.stockProbe = StockProbeReport{ { 10, 6, 3, 1, 0, 45 }, 256, 2 };
		const nlohmann::json p = codec::encode(probed)["stock_probe"];
		CHECK(p == nlohmann::json{ { "tracked", 256 }, { "in_flight", 2 }, { "started", 10 }, { "connected", 6 }, { "failed", 3 }, { "timed_out", 1 }, { "not_started", 0 }, { "untracked", 45 } });
		// One line.
		const std::string line = codec::farmLine(farm);
		CHECK(line.back() == '\n');
		CHECK(line.find('\n') == line.size() - 1);
		CHECK(nlohmann::json::parse(line) == j);
	}

	TEST_CASE("a farm of 100 busy servers with ten minutes of history fits a watcher's backlog")
	{
		std::vector<DirectoryEntry> entries;
		for (std::uint64_t i = 1; i <= 100; ++i) {
			const std::string address = "10.0." + std::to_string(i / 200) + "." + std::to_string(i % 200 + 1);
			entries.push_back(server(i, address.c_str(), 48, 40, 300));
		}
		FarmView farm = makeFarmView(look(entries), nullptr, self(), std::chrono::steady_clock::now());
		History h;
		for (std::size_t s = 0; s < History::kSamples; ++s)
			record(h, farm);
		addHistory(farm, h);
		REQUIRE(farm.servers[0].busyHistory.size() == History::kSamples);
		const std::size_t size = codec::farmLine(farm).size();
		MESSAGE("farm object of 100 servers with 600 s of history: ", size, " bytes");
		CHECK(size < QueryLimits::kMaxWatchBacklog);
	}

	TEST_CASE("a watcher hears of what a view shows, not of the clock, the ages or the history")
	{
		std::vector<DirectoryEntry> entries = { server(1, "10.0.0.2", 8, 3, 200) };
		const auto now = std::chrono::steady_clock::now();
		FarmView a = makeFarmView(look(entries), nullptr, self(), now);
		FarmView b = a;
		b.seq = 99;
		b.timeMs = 12345;
		b.servers[0].server.ageMs = 900;
		b.servers[0].busyHistory = { 1, 2, 3 };
		b.queries.hosts = 7;
		CHECK(changeKey(a) == changeKey(b));
		entries[0].server.sample->running = 4;
		CHECK(changeKey(a) != changeKey(makeFarmView(look(entries), nullptr, self(), now)));
		OwnClient wants = self();
		wants.want = 3;
		CHECK(changeKey(a) != changeKey(makeFarmView(look(entries), nullptr, wants, now)));
		entries[0].server.sample->age = std::chrono::milliseconds(4000); // no longer fresh
		CHECK(changeKey(makeFarmView(look(entries), nullptr, self(), now)) !=
		      changeKey(makeFarmView(look({ server(1, "10.0.0.2", 8, 4, 200) }), nullptr, self(), now)));
	}

	TEST_CASE("who runs where: a server's own word on its clients, matched to the clients gossip hears")
	{
		constexpr std::uint64_t kServer = 0x20, kClient = 0x10, kQuiet = 0x30;
		const Endpoint serverAt{ "10.0.0.2", 3632 }, clientAt{ "10.0.0.1", 3632 };
		const SteadyTime now = SteadyTime{} + std::chrono::hours(1);
		GossipConfig config;
		config.node = 0x99;
		Gossip gossip(config);
		gossip.addPeer(serverAt);
		gossip.addPeer(clientAt);
		const std::vector<std::uint64_t> listed{ kServer };
		gossip.pin(listed);
		const auto datagram = [](std::uint64_t sender, std::vector<wire::Record> records) {
			wire::PacketWriter w({ 0, sender, 1 });
			for (const wire::Record &r : records)
				REQUIRE(w.add(r));
			return w.finish();
		};
		wire::Sample sample;
		sample.server = kServer;
		sample.incarnation = 1;
		sample.sequence = 5;
		sample.running = 5;
		sample.slots = sample.cpus = 8;
		// The server: 3 jobs from 10.0.0.1, 2 from a client gossip never
		// heard.
		wire::Clients clients{ kServer, 1, 5, 0, 1, 0, {} };
		clients.entries.push_back({ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 }, 3 });
		clients.entries.push_back({ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 9 }, 2 });
		gossip.receive(serverAt, datagram(kServer, { sample, clients }), now);
		// The client: wants 20, holds 4 on the server, runs 1 at home.
		const wire::Demand demand{ kClient, 1, 1, 0, 20, 2 };
		const wire::Reservation reservation{ kClient, kServer, 4, 2000, 0, 1, 2 };
		const wire::LocalJobs local{ kClient, 1, 3, 1 };
		gossip.receive(clientAt, datagram(kClient, { demand, reservation, local }), now);
		REQUIRE(gossip.nodeAt("10.0.0.1") == kClient);
		REQUIRE(gossip.serverClients(kServer).size() == 2);

		DirectoryEntry e = server(kServer, "10.0.0.2", 8, 5, 100);
		std::vector<DirectoryEntry> entries = { e, server(kQuiet, "10.0.0.3", 4, 0, 100) };
		OwnClient me = self();
		me.want = 0;
		const FarmView farm = makeFarmView(look(entries), &gossip, me, now);
		REQUIRE(farm.servers.size() == 2);
		const auto &on = std::find_if(farm.servers.begin(), farm.servers.end(), [](const FarmServer &f) {
					 return f.server.id == wire::formatNodeId(kServer);
				 })->clients;
		REQUIRE(on.size() == 2);
		CHECK(on[0].address == "10.0.0.1");
		CHECK(on[0].client == wire::formatNodeId(kClient));
		CHECK(on[0].running == 3);
		CHECK(on[1].address == "10.0.0.9");
		CHECK_FALSE(on[1].client);
		// A server that says nothing has no clients listed.
		CHECK(std::find_if(farm.servers.begin(), farm.servers.end(), [](const FarmServer &f) {
			      return f.server.id == wire::formatNodeId(kQuiet);
		      })->clients.empty());
		REQUIRE(farm.clients.size() == 2);
		CHECK(farm.clients[0].self);
		const FarmClient &c = farm.clients[1];
		CHECK(c.id == wire::formatNodeId(kClient));
		CHECK(c.address == "10.0.0.1");
		CHECK(c.want == 20);
		CHECK(c.localSlots == 2);
		CHECK(c.holding == 4);
		CHECK(c.running == 3u);
		CHECK(c.localJobs == 1u);
		// A client publishes no _distcc._tcp record: without its gossip
		// record's host name it has none.
		CHECK_FALSE(c.name);
		CHECK_FALSE(on[0].name);
		// 20 wanted of 12 slots counts as 12, which the farm holds: no
		// overload, all it can use is its.
		CHECK_FALSE(c.share);
		CHECK(farm.totals.wanted == 20);
		CHECK(farm.totals.clients == 2);
		const nlohmann::json j = codec::encode(farm);
		for (const nlohmann::json &s : j["servers"])
			if (s["id"] == wire::formatNodeId(kServer)) {
				REQUIRE(s["clients"].size() == 2);
				CHECK(s["clients"][0]["client"] == wire::formatNodeId(kClient));
				CHECK(s["clients"][1]["client"].is_null());
			}
		REQUIRE(j["clients"].size() == 2);
		CHECK(j["clients"][1]["local_jobs"] == 1);
		// A second client asking as much overloads the farm: they split it.
		OwnClient busy = me;
		busy.want = 20;
		const FarmView split = makeFarmView(look(entries), &gossip, busy, now);
		CHECK(split.clients[0].share == 6u);
		CHECK(split.clients[1].share == 6u);

		// With the gossip records' host names: the client is named, in
		// its row and in the server's list; the address gossip hears no
		// node from (10.0.0.9) stays unnamed.
		const PeerHostName hostAt = [&](const Endpoint &peer) -> std::optional<std::string> {
			if (peer == clientAt)
				return "c1.local";
			return "anyone.local";
		};
		const FarmView named = makeFarmView(look(entries), &gossip, me, now, hostAt);
		REQUIRE(named.clients.size() == 2);
		CHECK(named.clients[1].name == "c1.local");
		const auto &namedOn = std::find_if(named.servers.begin(), named.servers.end(), [](const FarmServer &f) {
					      return f.server.id == wire::formatNodeId(kServer);
				      })->clients;
		REQUIRE(namedOn.size() == 2);
		CHECK(namedOn[0].name == "c1.local");
		CHECK_FALSE(namedOn[1].name);
		CHECK(codec::encode(named)["clients"][1]["name"] == "c1.local");
	}

	TEST_CASE("a farm and a watch request decode; their names are the ops")
	{
		CHECK(std::holds_alternative<FarmRequest>(codec::decodeRequest({ { "op", "farm" } })));
		CHECK(std::holds_alternative<WatchRequest>(codec::decodeRequest({ { "op", "watch" } })));
		CHECK(codec::opName(FarmRequest{}) == "farm");
		CHECK(codec::opName(WatchRequest{}) == "watch");
	}
}

namespace {

// A query server whose "watch" makes a watcher and whose other requests
// get a hosts-sized reply, driven by the test.
struct WatchHarness : test::QueryHarness {
	explicit WatchHarness(QueryLimits limits)
		: QueryHarness(std::move(limits),
			       [this](const Request &request, const Caller &who) -> nlohmann::json {
				       if (std::holds_alternative<WatchRequest>(request) && !server->watch(who.connection))
					       throw std::invalid_argument("too many watchers");
				       return { { "op", codec::opName(request) } };
			       })
	{
	}
};

using test::drain;
using test::Received;
using test::send;

} // namespace

TEST_SUITE("watch socket")
{
	TEST_CASE("one user gets four watchers; the fifth is refused and its connection still answers")
	{
		QueryLimits limits = QueryLimits::defaults();
		// Root too: the cap on watchers holds for every user.
		WatchHarness h(limits);
		std::vector<int> fds;
		std::vector<Received> got(5);
		for (int i = 0; i < 5; ++i) {
			fds.push_back(h.connect());
			send(fds.back(), "{\"op\":\"watch\"}\n");
			REQUIRE(h.runUntil([&] {
				drain(fds.back(), got[i]);
				return got[i].lines() >= 1;
			}));
		}
		for (int i = 0; i < 4; ++i)
			CHECK(got[i].data.find("\"ok\":true") != std::string::npos);
		CHECK(got[4].data.find("too many watchers") != std::string::npos);
		CHECK(h.server->watchers() == 4);
		const std::uint64_t refusedBefore = h.server->refused();
		// The refused one is an ordinary connection; watchers get the stream.
		send(fds[4], "{\"op\":\"hosts\"}\n");
		h.server->broadcast("{\"seq\":1}\n");
		CHECK(h.runUntil([&] {
			for (int i = 0; i < 5; ++i)
				drain(fds[i], got[i]);
			return got[4].lines() == 2 && got[0].lines() == 2 && got[3].lines() == 2;
		}));
		CHECK(got[4].data.find("{\"seq\":1}") == std::string::npos);
		CHECK(got[0].data.ends_with("{\"seq\":1}\n"));
		CHECK(h.server->refused() == refusedBefore);
		// One closes: another may watch.
		h.close(fds[0]);
		CHECK(h.runUntil([&] { return h.server->watchers() == 3; }));
		send(fds[4], "{\"op\":\"watch\"}\n");
		CHECK(h.runUntil([&] {
			drain(fds[4], got[4]);
			return got[4].lines() == 3;
		}));
		CHECK(got[4].data.ends_with("{\"ok\":true,\"op\":\"watch\"}\n"));
		CHECK(h.server->watchers() == 4);
	}

	TEST_CASE("a watcher outlives the idle deadline; a plain connection does not")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.idle = std::chrono::milliseconds(200);
		WatchHarness h(limits);
		const int watcher = h.connect();
		const int plain = h.connect();
		send(watcher, "{\"op\":\"watch\"}\n");
		send(plain, "{\"op\":\"hosts\"}\n");
		Received w, p;
		const auto start = std::chrono::steady_clock::now();
		CHECK(h.runUntil([&] {
			drain(watcher, w);
			drain(plain, p);
			return p.eof && std::chrono::steady_clock::now() - start > std::chrono::milliseconds(800);
		}));
		CHECK_FALSE(w.eof);
		CHECK(h.server->watchers() == 1);
	}

	TEST_CASE("a watcher that does not read is closed past its backlog, while others are still answered")
	{
		QueryLimits limits = QueryLimits::defaults();
		limits.watchBacklog = 256 * 1024;
		WatchHarness h(limits);
		// A small receive buffer: the backlog builds in the daemon's queue.
		const int stuck = h.connect(4096);
		const int reader = h.connect();
		const int asker = h.connect();
		send(stuck, "{\"op\":\"watch\"}\n");
		send(reader, "{\"op\":\"watch\"}\n");
		CHECK(h.runUntil([&] { return h.server->watchers() == 2; }));
		const std::string object = "{\"pad\":\"" + std::string(32 * 1024, 'x') + "\"}\n";
		Received read, asked, ignored;
		std::size_t broadcasts = 0, answers = 0;
		// At most 64 objects (2 MiB), one per loop turn; the stuck watcher
		// never reads.
		CHECK(h.runUntil(
			[&] {
				if (broadcasts < 64) {
					h.server->broadcast(object);
					++broadcasts;
				}
				send(asker, "{\"op\":\"hosts\"}\n");
				++answers;
				drain(reader, read);
				drain(asker, asked);
				return h.server->watchers() == 1;
			},
			std::chrono::seconds(10)));
		CHECK(broadcasts < 64);
		CHECK(broadcasts * object.size() > limits.watchBacklog);
		// The reader kept every object so far, the asker its answers.
		CHECK(h.runUntil([&] {
			drain(reader, read);
			drain(asker, asked);
			return read.lines() == broadcasts + 1 && asked.lines() == answers;
		}));
		CHECK(asked.data.find("\"ok\":false") == std::string::npos);
		// The stuck one is closed: what it reads now ends.
		CHECK(h.runUntil([&] {
			drain(stuck, ignored);
			return ignored.eof;
		}));
		CHECK(h.server->refused() >= 1);
	}
}

// Unit tests of learned speed: the estimator, the evidence table, the SPEED record and its gossip.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip/speed_table.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/live.h"
#include "distcc-mdns/plan.h"
#include "distcc-mdns/speed_estimate.h"

using namespace dmdns;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1);

// A farm of servers at known true speeds and clients whose projects have
// units of different typical sizes: jobs of client c on server s take
// size / speed_s, size log-normal around the client's typical unit.
struct Farm {
	std::vector<double> speeds;	// true
	std::vector<double> benchmarks; // advertised
	std::vector<double> unitMs;	// per client: a typical unit's time on a speed-1 server
	std::mt19937_64 rng{ 17 };

	std::uint64_t server(std::size_t s) const { return 0x5000 + s; }
	std::uint64_t client(std::size_t c) const { return 0xc000 + c; }

	// One job's wall time on @s for client @c, on a server whose cores
	// are shared by @crowd jobs (1: none).
	milliseconds job(std::size_t c, std::size_t s, double crowd = 1.0)
	{
		std::lognormal_distribution<double> size(std::log(unitMs[c]), 0.7);
		return milliseconds(static_cast<long long>(size(rng) / speeds[s] * crowd));
	}

	std::map<std::uint64_t, double> benchmarkMap() const
	{
		std::map<std::uint64_t, double> out;
		for (std::size_t s = 0; s < benchmarks.size(); ++s)
			out[server(s)] = benchmarks[s];
		return out;
	}
};

// Client @c's jobs on every server (@jobs each) as its window, in the
// form another client receives it.
std::vector<SpeedReport> clientReports(Farm &farm, std::size_t c, int jobs, bool own)
{
	gossip::SpeedTable table({});
	SteadyTime t = kStart;
	for (int j = 0; j < jobs; ++j)
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			t += 100ms;
			table.record(farm.server(s), std::log(static_cast<double>(farm.job(c, s).count())), t);
		}
	std::vector<SpeedReport> out;
	for (const SpeedReport &r : table.reports(t)) {
		SpeedReport x = r;
		x.own = own;
		x.source = own ? std::string{} : "10.0.0." + std::to_string(c);
		out.push_back(x);
	}
	return out;
}

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("the estimator learns true speed ratios from several clients' jobs")
	{
		Farm farm;
		farm.speeds = { 2.0, 1.0, 0.5, 1.0 };
		farm.benchmarks = { 1.3, 1.4, 0.35, 0.7 }; // off by up to 1.5x
		farm.unitMs = { 800, 3000, 300, 1500 };
		std::vector<SpeedReport> reports;
		for (std::size_t c = 0; c < farm.unitMs.size(); ++c)
			for (const SpeedReport &r : clientReports(farm, c, 40, c == 0))
				reports.push_back(r);
		SpeedModel model;
		model.fit(reports, farm.benchmarkMap());

		std::vector<double> learned;
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			const SpeedEstimate e = model.estimate(farm.server(s), farm.benchmarks[s]);
			REQUIRE(e.learned);
			CHECK(e.sources == 4);
			CHECK(e.jobs > 20);
			learned.push_back(*e.learned);
		}
		// Ratios to the speed-1 server within 15 %; the benchmark's are not.
		for (std::size_t s = 0; s < farm.speeds.size(); ++s) {
			const double truth = farm.speeds[s] / farm.speeds[1];
			CHECK(learned[s] / learned[1] == doctest::Approx(truth).epsilon(0.15));
		}
		CHECK(std::abs(farm.benchmarks[0] / farm.benchmarks[1] - 2.0) > 0.3 * 2.0);
	}
}

namespace {

const std::vector<std::uint64_t> kServers = { 0x5000, 0x5001, 0x5002, 0x5003, 0x5004 };

Endpoint serverEndpoint(std::size_t i)
{
	return { "10.0.1." + std::to_string(i + 1), 3632 };
}

// A client's gossip with the servers' own samples in it: each server
// @i advertises speeds[i] and runs running[i] jobs on cpus[i] cores.
struct Client {
	Gossip gossip;
	std::uint64_t sequence = 0;

	explicit Client(GossipConfig config = base())
		: gossip(std::move(config)) { }

	static GossipConfig base()
	{
		GossipConfig c;
		c.node = 0xc1;
		c.seed = 1;
		return c;
	}

	void sample(std::size_t i, double speed, std::uint32_t cpus = 4, std::uint32_t running = 0,
		    SteadyTime now = kStart)
	{
		wire::Sample s;
		s.server = kServers[i];
		s.incarnation = 1;
		s.sequence = ++sequence;
		s.slots = cpus;
		s.cpus = cpus;
		s.running = running;
		s.runnable = running;
		s.speed = speed;
		wire::Packet p;
		p.header = { 0, kServers[i], 1, sequence };
		p.records = { s };
		gossip.receive(serverEndpoint(i), wire::encode(p), now);
		REQUIRE(gossip.server(kServers[i], now));
	}
};

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("a job on a server running more jobs than cores counts for its share of a core")
	{
		Client client;
		client.sample(0, 1.0, 4, 8); // twice as many jobs as cores
		client.sample(1, 1.0, 4, 2);
		client.sample(2, 1.0, 4, 100); // absurd: the correction stops at 4x
		SteadyTime t = kStart;
		std::mt19937_64 rng(3);
		std::lognormal_distribution<double> size(std::log(1000.0), 0.5);
		for (int j = 0; j < 40; ++j) {
			t += 50ms;
			const double unit = size(rng);
			client.gossip.recordJob(kServers[0], milliseconds(static_cast<long long>(unit * 2)), t);
			client.gossip.recordJob(kServers[1], milliseconds(static_cast<long long>(unit)), t);
			client.gossip.recordJob(kServers[2], milliseconds(static_cast<long long>(unit * 25)), t);
		}
		const SpeedEstimate crowded = client.gossip.speedOf(kServers[0], 1.0, t);
		const SpeedEstimate idle = client.gossip.speedOf(kServers[1], 1.0, t);
		const SpeedEstimate absurd = client.gossip.speedOf(kServers[2], 1.0, t);
		REQUIRE(crowded.learned);
		REQUIRE(idle.learned);
		REQUIRE(absurd.learned);
		CHECK(*crowded.learned / *idle.learned == doctest::Approx(1.0).epsilon(0.1));
		// 25x the time, corrected by 4 at most: over 6x slower.
		CHECK(*absurd.learned / *idle.learned < 1.0 / 5.0);
	}

	TEST_CASE("one lying source cannot make a server too slow; a second honest one or own jobs outvote it")
	{
		Farm farm;
		farm.speeds = { 1.0, 1.0, 1.0, 1.0, 1.0 };
		farm.benchmarks = farm.speeds;
		farm.unitMs = { 1000, 1000, 1000 };
		// This node's jobs on servers 0-3 only; the liar's on all, server 4's 50x too long.
		std::vector<SpeedReport> honest;
		for (const SpeedReport &r : clientReports(farm, 0, 30, true))
			if (r.server != farm.server(4))
				honest.push_back(r);
		std::vector<SpeedReport> reports = honest;
		for (SpeedReport r : clientReports(farm, 1, 30, false)) {
			if (r.server == farm.server(4))
				r.logTime += std::log(50.0);
			r.weight = 1000.0; // and it claims many jobs
			reports.push_back(r);
		}
		SpeedModel model;
		model.fit(reports, farm.benchmarkMap());
		const SpeedEstimate lied = model.estimate(farm.server(4), 1.0);
		REQUIRE(lied.learned);
		CHECK(*lied.learned < 0.05); // what the liar says
		CHECK(lied.sources == 1);
		const double minSpeed = PlanOptions{}.minSpeed;
		CHECK(lied.used >= minSpeed);
		CHECK(lied.used < 1.0);

		// A second source that ran jobs there: the liar moves nothing.
		std::vector<SpeedReport> two = reports;
		for (const SpeedReport &r : clientReports(farm, 2, 30, false))
			two.push_back(r);
		model.fit(two, farm.benchmarkMap());
		const SpeedEstimate outvoted = model.estimate(farm.server(4), 1.0);
		CHECK(outvoted.sources == 2);
		CHECK(outvoted.used == doctest::Approx(1.0).epsilon(0.15));

		// This node's own jobs there: the same.
		std::vector<SpeedReport> own = reports;
		for (const SpeedReport &r : clientReports(farm, 0, 30, true))
			if (r.server == farm.server(4))
				own.push_back(r);
		model.fit(own, farm.benchmarkMap());
		CHECK(model.estimate(farm.server(4), 1.0).used == doctest::Approx(1.0).epsilon(0.15));
	}

	TEST_CASE("a rogue speed=1000 on a slow host is judged by its measured speed after 50 own jobs")
	{
		Client client;
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, 1.0);
		client.sample(4, 1000.0); // true speed 0.5
		CHECK(client.gossip.speedOf(kServers[4], 1000.0, kStart).used == doctest::Approx(1000.0));

		std::mt19937_64 rng(5);
		std::lognormal_distribution<double> size(std::log(2000.0), 0.8);
		SteadyTime t = kStart;
		auto job = [&](std::size_t i, double speed) {
			t += 20ms;
			client.gossip.recordJob(kServers[i], milliseconds(static_cast<long long>(size(rng) / speed)), t);
		};
		for (int j = 0; j < 50; ++j) {
			for (std::size_t i = 0; i < 4; ++i)
				job(i, 1.0);
			job(4, 0.5);
		}
		const SpeedEstimate e = client.gossip.speedOf(kServers[4], 1000.0, t);
		REQUIRE(e.learned);
		CHECK(e.benchmark == 1000.0);
		CHECK(e.used == doctest::Approx(0.5).epsilon(0.15));
		// The honest servers keep their speed: the rogue does not move the scale.
		CHECK(client.gossip.speedOf(kServers[0], 1.0, t).used == doctest::Approx(1.0).epsilon(0.15));
	}

	TEST_CASE("old evidence decays: a server that slowed down is judged by its recent jobs")
	{
		Client client;
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, 1.0);
		std::mt19937_64 rng(7);
		std::lognormal_distribution<double> size(std::log(1000.0), 0.6);
		SteadyTime t = kStart;
		auto round = [&](double speed0) {
			for (std::size_t i = 0; i < 4; ++i) {
				t += 20ms;
				const double speed = i == 0 ? speed0 : 1.0;
				client.gossip.recordJob(kServers[i], milliseconds(static_cast<long long>(size(rng) / speed)),
							t);
			}
		};
		for (int j = 0; j < 100; ++j)
			round(1.0);
		CHECK(client.gossip.speedOf(kServers[0], 1.0, t).used == doctest::Approx(1.0).epsilon(0.15));
		for (int j = 0; j < 250; ++j)
			round(0.4);
		const SpeedEstimate e = client.gossip.speedOf(kServers[0], 1.0, t);
		REQUIRE(e.learned);
		CHECK(*e.learned == doctest::Approx(0.4).epsilon(0.15));

		// By time: ten minutes halve a window's weight.
		const gossip::SpeedTable &table = client.gossip.speeds();
		const gossip::SpeedTable::Own &w = table.own().at(kServers[1]);
		CHECK(table.ownWeight(w, w.last + 10min) == doctest::Approx(w.weight / 2).epsilon(0.01));
		CHECK(w.jobs == 350);
		CHECK(w.weight < 100.0); // saturates near 64 / ln 2
	}

	TEST_CASE("a huge unit moves a window by a bounded step")
	{
		gossip::SpeedTable table({});
		SteadyTime t = kStart;
		for (int j = 0; j < 20; ++j)
			table.record(kServers[0], std::log(1000.0), t += 10ms);
		const double before = table.own().at(kServers[0]).logTime;
		table.record(kServers[0], std::log(1000.0 * 1000.0), t += 10ms);
		const gossip::SpeedTable::Own &after = table.own().at(kServers[0]);
		CHECK(after.logTime - before <= gossip::SpeedTable::kWinsor / after.weight + 1e-9);
		CHECK(after.logTime > before);
	}
}

namespace {

wire::Speed speedReport(std::uint64_t client, std::uint64_t server, std::uint64_t sequence, double logTime = 7.0)
{
	return wire::Speed{ client, server, 1, sequence, 250, logTime, 30 };
}

// A datagram of @sender holding @records.
std::vector<std::uint8_t> datagram(std::uint64_t sender, std::vector<wire::Record> records, std::uint64_t sequence = 1)
{
	wire::Packet p;
	p.header = { 0, sender, 1, sequence };
	p.records = std::move(records);
	return wire::encode(p);
}

std::size_t speedRecords(const std::vector<Datagram> &out)
{
	std::size_t n = 0;
	for (const Datagram &d : out) {
		const wire::Decoded decoded = wire::decode(d.bytes);
		REQUIRE(decoded.packet);
		for (const wire::Record &r : decoded.packet->records)
			n += std::holds_alternative<wire::Speed>(r);
	}
	return n;
}

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("the SPEED record round-trips and its bounds are enforced")
	{
		wire::Packet p;
		p.header = { 0, 0xc1, 3, 9 };
		p.records = { speedReport(0xc1, 0x5000, 12, 8.1234), wire::Speed{ 0xc1, 0x5001, 3, 13, 0, 0.0, 65535 } };
		const std::vector<std::uint8_t> bytes = wire::encode(p);
		CHECK(bytes.size() == wire::kHeaderSize + 2 * (2 + wire::kSpeedSize));
		CHECK(wire::encodedSize(p.records[0]) == 2 + wire::kSpeedSize);
		const wire::Decoded d = wire::decode(bytes);
		REQUIRE_MESSAGE(d.packet, d.error);
		REQUIRE(d.packet->records.size() == 2);
		const auto &back = std::get<wire::Speed>(d.packet->records[0]);
		CHECK(back.logTime == doctest::Approx(8.1234).epsilon(1e-6));
		wire::Speed exact = std::get<wire::Speed>(p.records[0]);
		exact.logTime = back.logTime;
		CHECK(back == exact);
		CHECK(std::get<wire::Speed>(d.packet->records[1]) == std::get<wire::Speed>(p.records[1]));

		auto refused = [](wire::Speed s) { return !wire::validate(s).empty(); };
		const wire::Speed good = speedReport(0xc1, 0x5000, 1);
		CHECK_FALSE(refused(good));
		wire::Speed s = good;
		s.client = 0;
		CHECK(refused(s));
		s = good;
		s.server = s.client; // a client's jobs on itself are not remote
		CHECK(refused(s));
		s = good;
		s.logTime = wire::kMaxSpeedLogTime + 0.01;
		CHECK(refused(s));
		s.logTime = -0.5;
		CHECK(refused(s));
		s.logTime = std::nan("");
		CHECK(refused(s));
		s = good;
		s.jobs = 0;
		CHECK(refused(s));
		s.jobs = wire::kMaxSpeedJobs + 1;
		CHECK(refused(s));
		s = good;
		s.sequence = wire::kMaxCounter;
		CHECK(refused(s));
		s = good;
		s.ageMs = wire::kMaxAgeMs + 1;
		CHECK(refused(s));

		// On the wire: a log time past the bound, or a wrong length, voids the datagram.
		std::vector<std::uint8_t> bad = wire::encode({ p.header, { good } });
		const std::size_t logAt = wire::kHeaderSize + 2 + 36;
		bad[logAt] = 0x7f;
		CHECK_FALSE(wire::decode(bad).packet);
		bad = wire::encode({ p.header, { good } });
		bad[wire::kHeaderSize + 1] = wire::kSpeedSize - 1;
		bad.pop_back();
		CHECK_FALSE(wire::decode(bad).packet);
	}

	TEST_CASE("speed reports count once per source address, newest first, in bounded tables")
	{
		gossip::SpeedTable table({ 600s, 64.0, 3, 4 });
		// One address inventing ids: one report per server.
		for (std::uint64_t id = 1; id <= 50; ++id)
			CHECK(table.report("10.0.0.9", speedReport(0xa000 + id, 0x5000, 1), kStart) ==
			      gossip::Verdict::Applied);
		CHECK(table.others().size() == 1);
		// Of one id: an older or equal sequence is stale, a newer one replaces.
		CHECK(table.report("10.0.0.9", speedReport(0xa032, 0x5000, 1, 3.0), kStart) == gossip::Verdict::Stale);
		CHECK(table.report("10.0.0.9", speedReport(0xa032, 0x5000, 2, 3.0), kStart) == gossip::Verdict::Applied);
		CHECK(table.others().begin()->second.speed.logTime == 3.0);
		// At most maxReports; the least recently updated goes first.
		for (int i = 0; i < 6; ++i)
			table.report("10.0.0." + std::to_string(20 + i), speedReport(0xb000 + i, 0x5001, 1),
				     kStart + milliseconds(i + 1));
		CHECK(table.others().size() == 4);
		CHECK_FALSE(table.others().contains({ "10.0.0.9", 0x5000 }));
		CHECK(table.evicted() >= 3);
		// Own windows: at most maxServers.
		for (std::uint64_t s = 0; s < 10; ++s)
			table.record(0x6000 + s, 7.0, kStart + milliseconds(s));
		CHECK(table.own().size() == 3);
		CHECK(table.own().contains(0x6009));
		// Everything is forgotten after ten half-lives.
		table.expire(kStart + 6001s);
		CHECK(table.own().empty());
		CHECK(table.others().empty());
	}

	TEST_CASE("a client's reports reach its peers; only a client speaks of its own jobs")
	{
		GossipConfig ca = Client::base(), cb = Client::base();
		cb.node = 0xc2;
		Gossip a(ca), b(cb);
		const Endpoint ea{ "10.0.2.1", 3632 }, eb{ "10.0.2.2", 3632 };
		a.addPeer(eb);
		b.addPeer(ea);
		SteadyTime t = kStart;
		for (int j = 0; j < 20; ++j)
			for (std::uint64_t s : { kServers[0], kServers[1], kServers[2] })
				a.recordJob(s, s == kServers[0] ? 2000ms : 1000ms, t);
		std::size_t sent = 0;
		for (int round = 0; round < 40; ++round, t += 100ms) {
			const std::vector<Datagram> fromA = a.tick(t);
			sent += speedRecords(fromA);
			for (const Datagram &d : fromA)
				for (const Datagram &reply : b.receive(ea, d.bytes, t))
					a.receive(eb, reply.bytes, t);
			for (const Datagram &d : b.tick(t))
				for (const Datagram &reply : a.receive(eb, d.bytes, t))
					b.receive(ea, reply.bytes, t);
		}
		CHECK(sent >= 3);
		CHECK(sent <= 40 * 4); // a few a round at most
		REQUIRE(b.speeds().others().size() == 3);
		CHECK(b.speeds().others().begin()->first.first == "10.0.2.1");
		const SpeedEstimate e = b.speedOf(kServers[0], 1.0, t);
		CHECK(e.sources == 1);
		CHECK(e.jobs >= 15);

		// Another client's jobs, said by a third party: not believed.
		const auto before = b.stats().untrusted;
		b.receive({ "10.0.2.3", 3632 }, datagram(0xc3, { speedReport(0xc4, kServers[3], 1) }), t);
		CHECK(b.stats().untrusted == before + 1);
		// Its own jobs it may tell, as a second source on a server.
		b.receive({ "10.0.2.3", 3632 }, datagram(0xc3, { speedReport(0xc3, kServers[0], 2) }, 2), t);
		CHECK(b.speeds().others().size() == 4);
		CHECK(b.speedOf(kServers[0], 1.0, t).sources == 2);
		// A second id from the same address replaces its word, adds no vote.
		b.receive({ "10.0.2.3", 3632 }, datagram(0xc5, { speedReport(0xc5, kServers[0], 1) }, 3), t);
		CHECK(b.speeds().others().size() == 4);
		CHECK(b.speedOf(kServers[0], 1.0, t).sources == 2);
	}

	TEST_CASE("learnSpeed false: the benchmark alone, nothing gossiped or taken")
	{
		GossipConfig config = Client::base();
		config.learnSpeed = false;
		Client client(config);
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, 1.0);
		client.gossip.addPeer({ "10.0.2.2", 3632 });
		SteadyTime t = kStart;
		for (int j = 0; j < 50; ++j)
			client.gossip.recordJob(kServers[0], 10000ms, t += 10ms);
		const SpeedEstimate e = client.gossip.speedOf(kServers[0], 1.25, t);
		CHECK_FALSE(e.learned);
		CHECK(e.used == 1.25);
		CHECK(e.benchmark == 1.25);
		CHECK(client.gossip.speeds().own().empty());
		client.gossip.receive({ "10.0.2.2", 3632 }, datagram(0xc2, { speedReport(0xc2, kServers[1], 1) }), t);
		CHECK(client.gossip.speeds().others().empty());
		std::size_t sent = 0;
		for (int round = 0; round < 10; ++round)
			sent += speedRecords(client.gossip.tick(t += 200ms));
		CHECK(sent == 0);
	}
}

namespace {

// Clients that peer with one another over a lossless LAN, and servers
// whose own samples reach every client.
struct Mesh {
	std::vector<std::unique_ptr<Gossip>> clients;
	std::vector<Endpoint> at;
	std::vector<std::uint64_t> sequence;
	SteadyTime now = kStart;

	explicit Mesh(std::size_t n)
	{
		for (std::size_t i = 0; i < n; ++i) {
			GossipConfig c = Client::base();
			c.node = 0xc100 + i;
			c.seed = i;
			clients.push_back(std::make_unique<Gossip>(c));
			at.push_back({ "10.0.3." + std::to_string(i + 1), 3632 });
		}
		for (std::size_t i = 0; i < n; ++i)
			for (std::size_t j = 0; j < n; ++j)
				if (i != j)
					clients[i]->addPeer(at[j]);
		sequence.assign(kServers.size(), 0);
	}

	void deliver(std::size_t from, const std::vector<Datagram> &out, int depth = 0)
	{
		for (const Datagram &d : out)
			for (std::size_t j = 0; j < clients.size(); ++j)
				if (at[j] == d.to && depth < 3)
					deliver(j, clients[j]->receive(at[from], d.bytes, now), depth + 1);
	}

	void sample(std::size_t s, double speed, std::uint32_t cpus, std::uint32_t running)
	{
		wire::Sample x;
		x.server = kServers[s];
		x.incarnation = 1;
		x.sequence = ++sequence[s];
		x.slots = cpus * 2;
		x.cpus = cpus;
		x.running = running;
		x.runnable = running;
		x.speed = speed;
		wire::Packet p;
		p.header = { 0, kServers[s], 1, sequence[s] };
		p.records = { x };
		for (auto &c : clients)
			c->receive(serverEndpoint(s), wire::encode(p), now);
	}

	void tick()
	{
		for (std::size_t i = 0; i < clients.size(); ++i)
			deliver(i, clients[i]->tick(now));
	}
};

} // namespace

TEST_SUITE("speed")
{
	TEST_CASE("four clients at full load learn the servers' true speed ratios within 15 % through gossip")
	{
		const std::vector<double> truth = { 2.0, 1.0, 0.5 };
		const std::vector<double> benchmark = { 1.1, 1.2, 0.7 }; // a busy second at start
		const std::vector<double> unitMs = { 300, 800, 150, 500 };
		const std::uint32_t cpus = 4;
		Mesh mesh(unitMs.size());
		std::mt19937_64 rng(11);
		// Full load, the fast server the most crowded (the planner sends it
		// more): 1-3x as many jobs as cores there, up to 2x and 1x on the
		// others, changing with every sample (each 100 ms).
		std::vector<std::uniform_int_distribution<std::uint32_t>> crowd = {
			std::uniform_int_distribution<std::uint32_t>(cpus, 3 * cpus),
			std::uniform_int_distribution<std::uint32_t>(1, 2 * cpus),
			std::uniform_int_distribution<std::uint32_t>(1, cpus)
		};
		std::vector<double> share(truth.size(), 1.0);
		// Each client runs one job at a time, its units spread over the
		// servers in turn regardless of size (as the picker does); a job
		// advances at its server's speed times its share of a core.
		struct Job {
			std::size_t server = 0;
			double work = 0.0; // ms on a speed-1 core, left
			SteadyTime start{};
		};
		std::vector<Job> jobs(unitMs.size());
		std::vector<int> done(unitMs.size(), 0);
		std::size_t next = 0;
		auto begin = [&](std::size_t c, SteadyTime at) {
			std::lognormal_distribution<double> size(std::log(unitMs[c]), 0.7);
			jobs[c] = { next++ % truth.size(), size(rng), at };
		};
		for (std::size_t c = 0; c < jobs.size(); ++c)
			begin(c, mesh.now);
		const auto step = 10ms;
		for (int i = 0; i < 200000 && *std::min_element(done.begin(), done.end()) < 200; ++i) {
			if (i % 10 == 0) {
				for (std::size_t s = 0; s < truth.size(); ++s) {
					const std::uint32_t running = crowd[s](rng);
					share[s] = std::min(1.0, double(cpus) / running);
					mesh.sample(s, benchmark[s], cpus, running);
				}
				mesh.tick();
			}
			for (std::size_t c = 0; c < jobs.size(); ++c) {
				Job &j = jobs[c];
				const double rate = truth[j.server] * share[j.server]; // work per ms
				if (j.work > rate * step.count()) {
					j.work -= rate * step.count();
					continue;
				}
				const auto end = mesh.now + std::chrono::microseconds(static_cast<long long>(j.work / rate * 1000));
				mesh.clients[c]->recordJob(kServers[j.server],
							   std::chrono::duration_cast<milliseconds>(end - j.start), end);
				++done[c];
				begin(c, mesh.now + step);
			}
			mesh.now += step;
		}
		REQUIRE(*std::min_element(done.begin(), done.end()) >= 200);
		for (int settle = 0; settle < 20; ++settle) {
			mesh.now += 100ms;
			mesh.tick();
		}
		for (std::size_t c = 0; c < unitMs.size(); ++c) {
			std::vector<double> learned;
			for (std::size_t s = 0; s < truth.size(); ++s) {
				const SpeedEstimate e = mesh.clients[c]->speedOf(kServers[s], benchmark[s], mesh.now);
				REQUIRE(e.learned);
				CHECK(e.sources == unitMs.size());
				learned.push_back(*e.learned);
			}
			MESSAGE("client " << c << " learned " << learned[0] << " " << learned[1] << " " << learned[2]);
			CHECK(learned[0] / learned[1] == doctest::Approx(2.0).epsilon(0.15));
			CHECK(learned[2] / learned[1] == doctest::Approx(0.5).epsilon(0.15));
		}
		// Where the benchmark alone is off by more.
		CHECK(std::abs(benchmark[0] / benchmark[1] - 2.0) > 0.15 * 2.0);
	}

	TEST_CASE("the overlay hands the planner the used speed and keeps the estimate")
	{
		Client client;
		for (std::size_t i = 0; i < 4; ++i)
			client.sample(i, i == 3 ? 1000.0 : 1.0);
		SteadyTime t = kStart;
		for (int j = 0; j < 50; ++j)
			for (std::size_t i = 0; i < 4; ++i)
				client.gossip.recordJob(kServers[i], i == 3 ? 2000ms : 1000ms, t += 10ms);
		std::vector<DirectoryEntry> entries(5);
		for (std::size_t i = 0; i < entries.size(); ++i) {
			entries[i].name = "distcc@s" + std::to_string(i);
			entries[i].server.id = wire::formatNodeId(kServers[i]);
			entries[i].server.speed = 1.5; // the TXT's
		}
		const LiveServers live = overlayGossip(entries, client.gossip, t);
		const Server &rogue = live.entries[3].server;
		REQUIRE(rogue.speedEstimate);
		CHECK(rogue.speedEstimate->benchmark == 1000.0); // the sample's, over the TXT's
		CHECK(rogue.speed == doctest::Approx(0.5).epsilon(0.15));
		CHECK(rogue.speed == rogue.speedEstimate->used);
		// Gossip has no sample of server 4 and no jobs: the TXT's speed, unchanged.
		const Server &unknown = live.entries[4].server;
		REQUIRE(unknown.speedEstimate);
		CHECK_FALSE(unknown.speedEstimate->learned);
		CHECK(unknown.speed == 1.5);
	}
}

TEST_SUITE("speed")
{
	TEST_CASE("a job's share of a core is averaged over the samples sent while it ran")
	{
		gossip::SpeedTable table({});
		wire::Sample crowded;
		crowded.cpus = 4;
		crowded.running = 8;
		wire::Sample idle = crowded;
		idle.running = 2;
		wire::Sample absurd = crowded;
		absurd.runnable = 1e6;
		CHECK(table.share(kServers[0], kStart, kStart + 1s) == 1.0); // nothing known
		table.contention(kServers[0], kStart, crowded);
		table.contention(kServers[0], kStart + 1s, idle);
		// Half the job at 1/2 a core, half at a whole one.
		CHECK(table.share(kServers[0], kStart, kStart + 2s) == doctest::Approx(0.75));
		// Before the first sample its share holds; after the last, the last's.
		CHECK(table.share(kServers[0], kStart - 1s, kStart + 1s) == doctest::Approx(0.5));
		CHECK(table.share(kServers[0], kStart + 5s, kStart + 6s) == doctest::Approx(1.0));
		CHECK(table.share(kServers[0], kStart + 500ms, kStart + 500ms) == doctest::Approx(0.5));
		// A claimed huge load counts for at most 4x.
		table.contention(kServers[1], kStart, absurd);
		CHECK(table.share(kServers[1], kStart, kStart + 1s) == gossip::SpeedTable::kMinShare);
		// Bounded history: the 32 newest samples, the oldest kept holding before it.
		for (int i = 0; i < 100; ++i)
			table.contention(kServers[2], kStart + std::chrono::seconds(i), i % 2 ? idle : crowded);
		CHECK(table.share(kServers[2], kStart + 68s, kStart + 100s) == doctest::Approx(0.75));
		CHECK(table.share(kServers[2], kStart, kStart + 100s) == doctest::Approx((68 * 0.5 + 32 * 0.75) / 100));
	}
}

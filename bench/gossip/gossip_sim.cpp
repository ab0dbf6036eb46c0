// gossip-sim: dmdns::Gossip on a simulated LAN with a virtual clock: traffic, sample ages, spread, crash detection.
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/options.h"
#include "distcc-mdns/gossip.h"
#include "distcc-mdns/gossip_wire.h"
#include "distcc-mdns/sample_cadence.h"

namespace dmdns {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Far enough from the epoch that origins (now - age) stay positive.
const SteadyTime kStart = SteadyTime{} + std::chrono::hours(1);

constexpr milliseconds kWarmup{ 5000 };	    // not measured: every node learns every server
constexpr milliseconds kAgePoll{ 100 };	    // ages are read this often in the window
constexpr milliseconds kCrashPoll{ 10 };    // and the crashed server's liveness this often
constexpr milliseconds kCrashGap{ 500 };    // between one crash detected everywhere and the next
constexpr nanoseconds kMinDelay{ 200'000 }; // one-way LAN delay, uniform
constexpr nanoseconds kMaxDelay{ 2'000'000 };
constexpr std::uint32_t kSlots = 16;	// of every simulated distccd
constexpr std::size_t kMaxNodes = 1000; // maxPeers and maxServers are raised to N: every node knows every other
// Above this many nodes a delivery is looked at for its sender's own records
// only (the simulated nodes believe no relay: no key, no --peer, so nothing
// else in it can change), and ages are polled less often.
constexpr std::size_t kLargeNodes = 200;
constexpr milliseconds kLargeAgePoll{ 500 };
constexpr milliseconds kJoinAfter{ 2000 }; // into the window, the joining server starts

// The goal the gossip defaults are tuned for: printed next to the numbers,
// never asserted.
constexpr double kGoalBytes = 2000.0; // per second per node
constexpr double kGoalAgeMs = 1000.0; // median sample age
constexpr double kGoalAgeP99Ms = 2000.0;
constexpr double kGoalDeadMs = 3500.0; // crashed server dead at every node (issue 20)

// A broken invariant of the harness or of what gossip sent: exit 1.
class InternalError final : public std::runtime_error
{
public:
	using std::runtime_error::runtime_error;
};

double toMs(nanoseconds d)
{
	return std::chrono::duration<double, std::milli>(d).count();
}

std::uint64_t idOf(std::size_t i)
{
	return 0x1000 + i;
}

Endpoint endpointOf(std::size_t i)
{
	return { fmt::format("10.0.{}.{}", i / 250, i % 250 + 1), 3632 };
}

wire::Sample loadOf(std::uint32_t running)
{
	wire::Sample s;
	s.running = running;
	s.slots = kSlots;
	s.cpus = kSlots;
	s.runnable = running;
	return s;
}

// Whether (incarnation, sequence) @a is at least @b.
bool atLeast(std::uint64_t incA, std::uint64_t seqA, std::uint64_t incB, std::uint64_t seqB)
{
	return incA != incB ? incA > incB : seqA >= seqB;
}

// Nearest-rank quantile; empty when there are no values.
std::optional<double> quantile(std::vector<double> values, double q)
{
	if (values.empty())
		return std::nullopt;
	std::sort(values.begin(), values.end());
	const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
	return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

// Whole milliseconds, for the millions of polled ages.
class Histogram final
{
public:
	void add(milliseconds value)
	{
		++counts_[static_cast<std::size_t>(std::clamp<std::int64_t>(value.count(), 0, kTop))];
		++total_;
	}

	std::optional<double> quantile(double q) const
	{
		if (total_ == 0)
			return std::nullopt;
		const auto rank = std::max<std::uint64_t>(
			1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_))));
		std::uint64_t seen = 0;
		for (std::size_t i = 0; i < counts_.size(); ++i) {
			seen += counts_[i];
			if (seen >= rank)
				return static_cast<double>(i);
		}
		return static_cast<double>(kTop);
	}

private:
	static constexpr std::int64_t kTop = 120'000;
	std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kTop + 1);
	std::uint64_t total_ = 0;
};

struct Scenario {
	std::string name;
	double changeRate = 0.0; // load changes per second per server, Poisson
	double loss = 0.0;	 // fraction of datagrams lost
};

struct Setup {
	std::size_t nodes = 0;
	std::size_t servers = 0;
	Scenario scenario;
	GossipConfig gossip; // node, incarnation and seed are set per node
	// As the daemon samples (SampleCadence): every sampleInterval after a
	// change, doubling while the load holds, up to quietSample.
	milliseconds sampleInterval{ 250 };
	milliseconds quietSample{ kQuietMeasure };
	nanoseconds window{ 60s };
	std::size_t crashes = 5; // servers crashed one after the other once the window is over
	std::uint64_t seed = 1;
	// Servers say which clients run their jobs (CLIENTS) and clients their
	// local jobs (LOCAL_JOBS); false: neither, as before issue 19.
	bool clientJobs = true;
	// The last server is down until kJoinAfter into the window: how long
	// until 99.9 % and all of the live nodes hold its sample.
	bool join = false;
};

struct Result {
	// Traffic in the window: UDP payload bytes and datagrams sent.
	double bytesMean = 0.0, bytesMax = 0.0, packetsMean = 0.0;
	double fullStateShare = 0.0; // of the bytes, in push-pull datagrams
	// Ages of the servers' samples at the other nodes, polled, in ms.
	std::optional<double> ageP50, ageP99;
	double worstAge = 0.0;	      // the oldest any live server's sample got anywhere, exact
	std::uint64_t ageMissing = 0; // polls of a server a node had not heard of
	// From a sample carrying a new load until every live node holds it.
	std::optional<double> spreadP50, spreadP99;
	std::size_t changes = 0, unfinished = 0;
	// Per crash, in ms from the crash until every other live node reported
	// it suspect (or dead) / dead; empty: not within crashLimit.
	std::vector<std::optional<double>> suspectAll, deadAll;
	double crashLimit = 0.0;
	// (node, live server) pairs that went suspect or dead.
	std::uint64_t falseSuspect = 0, falseDead = 0;
	std::uint64_t rateLimited = 0;
	std::size_t maxDatagram = 0;
	double wallSeconds = 0.0;
	// With Setup::join: from its start until 99.9 % / all of the others hold its sample.
	std::optional<double> join999, joinAll;
};

class Simulation final
{
public:
	explicit Simulation(const Setup &setup);
	Result run();

private:
	enum class Kind : std::uint8_t {
		Tick,
		Sample,
		LoadChange,
		Deliver,
		WindowStart,
		AgePoll,
		Crash,
		CrashPoll,
		Join
	};
	struct Event {
		SteadyTime at;
		std::uint64_t order = 0; // first scheduled first among equal times
		Kind kind = Kind::Tick;
		std::uint32_t index = 0; // a node, or an in-flight slot

		bool operator>(const Event &other) const
		{
			return at != other.at ? at > other.at : order > other.order;
		}
	};
	struct InFlight {
		std::uint32_t from = 0;
		std::uint32_t to = 0;
		std::vector<std::uint8_t> bytes;
	};
	struct Node {
		std::unique_ptr<Gossip> gossip;
		bool up = true;
		std::uint32_t running = 0;
		std::vector<std::size_t> owners; // of each running job: the client node
		// The own sample gossip last originated: (incarnation, sequence), load.
		std::optional<std::pair<std::uint64_t, std::uint64_t>> originated;
		std::uint32_t originatedRunning = 0;
		// The load at the last sample, and when to sample next.
		std::optional<std::uint32_t> sampled;
		std::optional<SampleCadence> cadence;
		std::uint64_t bytes = 0, packets = 0; // sent in the window
	};
	// What one node holds of one server, as of its last datagram.
	struct View {
		std::uint64_t incarnation = 0, sequence = 0;
		SteadyTime origin{};
		bool known = false;
		bool suspected = false, dead = false; // this silence was counted
	};
	// A sample with a new load, until every live node holds it or a newer one.
	struct Change {
		std::uint64_t incarnation = 0, sequence = 0;
		SteadyTime at{};
		SteadyTime last{}; // when the latest node got it
		std::size_t reached = 0, needed = 0;
		bool measured = false; // originated in the window
		bool done = false;
	};

	void schedule(SteadyTime at, Kind kind, std::size_t index);
	void tick(std::size_t i);
	void sample(std::size_t i);
	void loadChange(std::size_t i);
	std::size_t pickClient(std::size_t server);
	void deliver(std::size_t slot);
	void windowStart();
	void agePoll();
	void crash();
	void crashPoll();
	void send(std::size_t from, std::vector<Datagram> out);
	void observe(std::size_t i);
	void observeServer(std::size_t i, std::size_t s);
	void checkAlarms(std::size_t i);
	void settle(std::size_t server);
	View &view(std::size_t node, std::size_t server) { return views_[node * setup_.servers + server]; }
	nanoseconds exponential(double rate);
	Result collect();

	Setup setup_;
	std::mt19937_64 rng_;
	SteadyTime now_ = kStart;
	std::uint64_t order_ = 0;
	std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
	std::vector<Node> nodes_;
	std::unordered_map<std::string, std::uint32_t> byAddress_;
	std::vector<InFlight> inFlight_;
	std::vector<std::uint32_t> freeSlots_;
	std::vector<View> views_;
	std::vector<std::deque<Change>> changes_;
	std::size_t upCount_ = 0;

	bool counting_ = false; // inside the measured window
	bool alarmsOn_ = false; // from the window on, false alarms count
	bool finished_ = false;
	SteadyTime windowEnd_{};

	std::vector<std::size_t> victims_; // the servers that crash, in turn
	std::size_t trial_ = 0;		   // the crash in progress
	SteadyTime crashAt_{};
	nanoseconds crashLimit_{};
	std::vector<std::optional<SteadyTime>> suspectAt_, deadAt_; // of the crash in progress, per node
	std::vector<std::optional<double>> trialSuspect_, trialDead_;

	Histogram ages_;
	std::uint64_t ageMissing_ = 0;
	nanoseconds worstAge_{ 0 };
	std::vector<double> spread_;
	std::size_t changesMeasured_ = 0;
	std::uint64_t falseSuspect_ = 0, falseDead_ = 0;
	std::uint64_t fullStateBytes_ = 0;
	std::uint64_t totalBytes_ = 0, totalPackets_ = 0; // the whole run, to check gossip's stats
	std::size_t maxDatagram_ = 0;

	std::optional<std::size_t> joiner_; // with Setup::join: the server that starts late
	SteadyTime joinAt_{};
	bool joined_ = false;
	std::vector<bool> reached_; // which nodes hold the joiner's sample
	std::size_t reachedCount_ = 0;
	std::optional<double> join999_, joinAll_;
	void join();
	void reach(std::size_t i);
};

Simulation::Simulation(const Setup &setup)
	: setup_(setup), rng_(setup.seed), nodes_(setup.nodes), views_(setup.nodes * setup.servers),
	  changes_(setup.servers), suspectAt_(setup.nodes), deadAt_(setup.nodes)
{
	if (setup_.join)
		joiner_ = setup_.servers - 1;
	for (std::size_t s = 0; s < setup_.servers; ++s)
		if (s != joiner_)
			victims_.push_back(s);
	std::shuffle(victims_.begin(), victims_.end(), rng_);
	// Someone must be left to notice.
	victims_.resize(std::min({ setup_.crashes, victims_.size(), setup_.nodes - 1 }));
	crashLimit_ = std::max<nanoseconds>(15s, 3 * setup_.gossip.deadAfter);
	upCount_ = nodes_.size();
	for (std::size_t i = 0; i < nodes_.size(); ++i)
		byAddress_.emplace(endpointOf(i).address, static_cast<std::uint32_t>(i));

	std::uniform_int_distribution<std::uint32_t> pickRunning(0, kSlots);
	auto phase = [&](nanoseconds span) {
		std::uniform_int_distribution<std::int64_t> pick(0, span.count() - 1);
		return nanoseconds(pick(rng_));
	};
	for (std::size_t i = 0; i < nodes_.size(); ++i) {
		Node &node = nodes_[i];
		GossipConfig config = setup_.gossip;
		// Every node knows every other, and which address speaks for each
		// (the peer table keeps as many such claims as servers).
		config.maxPeers = std::max(config.maxPeers, setup_.nodes);
		config.maxServers = std::max(config.maxServers, setup_.nodes);
		config.node = idOf(i);
		config.incarnation = 1;
		config.seed = setup_.seed * 7919 + i;
		node.gossip = std::make_unique<Gossip>(std::move(config));
		for (std::size_t j = 0; j < nodes_.size(); ++j)
			if (j != i)
				node.gossip->addPeer(endpointOf(j));
		schedule(kStart + phase(setup_.gossip.period), Kind::Tick, i);
		// Every client builds and compiles two files itself meanwhile.
		if (setup_.clientJobs && (i >= setup_.servers || setup_.servers == setup_.nodes))
			node.gossip->setOwnLocalJobs(2);
		if (i < setup_.servers) {
			node.running = pickRunning(rng_);
			for (std::uint32_t j = 0; j < node.running; ++j)
				node.owners.push_back(pickClient(i));
			schedule(kStart + phase(setup_.sampleInterval), Kind::Sample, i);
			if (setup_.scenario.changeRate > 0)
				schedule(kStart + exponential(setup_.scenario.changeRate), Kind::LoadChange, i);
		}
	}
	if (joiner_) {
		nodes_[*joiner_].up = false;
		--upCount_;
		reached_.assign(nodes_.size(), false);
		schedule(kStart + kWarmup + kJoinAfter, Kind::Join, *joiner_);
	}
	windowEnd_ = kStart + kWarmup + setup_.window;
	schedule(kStart + kWarmup, Kind::WindowStart, 0);
	schedule(windowEnd_, Kind::Crash, 0);
}

nanoseconds Simulation::exponential(double rate)
{
	std::exponential_distribution<double> pick(rate);
	return std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(pick(rng_)));
}

void Simulation::schedule(SteadyTime at, Kind kind, std::size_t index)
{
	queue_.push({ at, order_++, kind, static_cast<std::uint32_t>(index) });
}

Result Simulation::run()
{
	const auto wallStart = std::chrono::steady_clock::now();
	while (!finished_ && !queue_.empty()) {
		const Event event = queue_.top();
		queue_.pop();
		if (event.at < now_)
			throw InternalError("the virtual clock went backwards");
		now_ = event.at;
		switch (event.kind) {
		case Kind::Tick:
			tick(event.index);
			break;
		case Kind::Sample:
			sample(event.index);
			break;
		case Kind::LoadChange:
			loadChange(event.index);
			break;
		case Kind::Deliver:
			deliver(event.index);
			break;
		case Kind::WindowStart:
			windowStart();
			break;
		case Kind::AgePoll:
			agePoll();
			break;
		case Kind::Crash:
			crash();
			break;
		case Kind::CrashPoll:
			crashPoll();
			break;
		case Kind::Join:
			join();
			break;
		}
	}
	if (!finished_)
		throw InternalError("the simulation ran out of events");
	for (std::size_t i = 0; i < nodes_.size(); ++i)
		if (nodes_[i].up)
			checkAlarms(i);
	Result r = collect();
	r.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wallStart).count();
	return r;
}

void Simulation::tick(std::size_t i)
{
	Node &node = nodes_[i];
	if (!node.up)
		return;
	send(i, node.gossip->tick(now_));
	const SteadyTime next = node.gossip->nextTick();
	if (next <= now_)
		throw InternalError(fmt::format("node {}: nextTick() is not after the tick", i));
	schedule(next, Kind::Tick, i);
}

void Simulation::sample(std::size_t i)
{
	Node &node = nodes_[i];
	if (!node.up)
		return;
	node.gossip->setOwnSample(loadOf(node.running), now_);
	if (setup_.clientJobs) {
		std::map<std::size_t, std::uint32_t> per;
		for (std::size_t owner : node.owners)
			++per[owner];
		std::vector<ClientJobs> clients;
		for (const auto &[owner, running] : per)
			clients.push_back({ endpointOf(owner).address, running });
		node.gossip->setOwnClients(std::move(clients));
	}
	const auto own = node.gossip->server(idOf(i), now_);
	if (!own)
		throw InternalError(fmt::format("server {} does not know its own sample", i));
	const std::pair key{ own->sample.incarnation, own->sample.sequence };
	if (key != node.originated) {
		// Gossip originated a sample (it may skip unchanged ones): a change
		// when its load differs from the previous one.
		if (node.originated && own->sample.running != node.originatedRunning) {
			Change c;
			c.incarnation = key.first;
			c.sequence = key.second;
			c.at = now_;
			c.needed = upCount_ - 1;
			c.measured = counting_;
			changes_[i].push_back(c);
			if (counting_)
				++changesMeasured_;
		}
		node.originated = key;
		node.originatedRunning = own->sample.running;
	}
	if (!node.cadence)
		node.cadence.emplace(setup_.sampleInterval, setup_.quietSample);
	const milliseconds next = node.cadence->next(node.sampled != node.running);
	node.sampled = node.running;
	schedule(now_ + next, Kind::Sample, i);
}

void Simulation::loadChange(std::size_t i)
{
	Node &node = nodes_[i];
	if (!node.up)
		return;
	if (node.running == 0)
		node.running = 1;
	else if (node.running == kSlots)
		--node.running;
	else
		node.running = std::bernoulli_distribution(0.5)(rng_) ? node.running + 1 : node.running - 1;
	// A new job comes from some client; an ending one is any of those running.
	if (node.running > node.owners.size()) {
		node.owners.push_back(pickClient(i));
	} else if (!node.owners.empty()) {
		std::uniform_int_distribution<std::size_t> pick(0, node.owners.size() - 1);
		node.owners.erase(node.owners.begin() + static_cast<std::ptrdiff_t>(pick(rng_)));
	}
	schedule(now_ + exponential(setup_.scenario.changeRate), Kind::LoadChange, i);
}

std::size_t Simulation::pickClient(std::size_t server)
{
	// The clients are the nodes that are no server, or every other node.
	const std::size_t first = setup_.servers < setup_.nodes ? setup_.servers : 0;
	std::uniform_int_distribution<std::size_t> pick(first, setup_.nodes - 1);
	for (;;)
		if (const std::size_t c = pick(rng_); c != server)
			return c;
}

void Simulation::send(std::size_t from, std::vector<Datagram> out)
{
	std::bernoulli_distribution lost(setup_.scenario.loss);
	std::uniform_int_distribution<std::int64_t> delay(kMinDelay.count(), kMaxDelay.count());
	for (Datagram &d : out) {
		const std::size_t size = d.bytes.size();
		if (size > setup_.gossip.maxDatagram || size < wire::kHeaderSize)
			throw InternalError(fmt::format("node {} sent a datagram of {} bytes", from, size));
		maxDatagram_ = std::max(maxDatagram_, size);
		totalBytes_ += size;
		++totalPackets_;
		if (counting_) {
			nodes_[from].bytes += size;
			++nodes_[from].packets;
			if (d.bytes[3] & wire::kFlagFullState)
				fullStateBytes_ += size;
		}
		const auto to = byAddress_.find(d.to.address);
		if (to == byAddress_.end() || d.to.port != 3632)
			throw InternalError(fmt::format("node {} sent to unknown {}:{}", from, d.to.address, d.to.port));
		if (to->second == from)
			throw InternalError(fmt::format("node {} sent to itself", from));
		if (setup_.scenario.loss > 0 && lost(rng_))
			continue;
		std::uint32_t slot;
		if (freeSlots_.empty()) {
			slot = static_cast<std::uint32_t>(inFlight_.size());
			inFlight_.emplace_back();
		} else {
			slot = freeSlots_.back();
			freeSlots_.pop_back();
		}
		inFlight_[slot] = { static_cast<std::uint32_t>(from), to->second, std::move(d.bytes) };
		schedule(now_ + nanoseconds(delay(rng_)), Kind::Deliver, slot);
	}
}

void Simulation::deliver(std::size_t slot)
{
	InFlight f = std::move(inFlight_[slot]);
	freeSlots_.push_back(static_cast<std::uint32_t>(slot));
	Node &to = nodes_[f.to];
	if (!to.up)
		return;
	// A silence can only end with a datagram: look at it just before.
	checkAlarms(f.to);
	auto out = to.gossip->receive(endpointOf(f.from), f.bytes, now_);
	if (setup_.nodes > kLargeNodes) {
		if (f.from < setup_.servers)
			observeServer(f.to, f.from);
	} else {
		observe(f.to);
	}
	if (joined_ && !reached_[f.to])
		reach(f.to);
	send(f.to, std::move(out));
}

void Simulation::observe(std::size_t i)
{
	for (std::size_t s = 0; s < setup_.servers; ++s)
		if (s != i)
			observeServer(i, s);
}

void Simulation::observeServer(std::size_t i, std::size_t s)
{
	const auto held = nodes_[i].gossip->server(idOf(s), now_);
	if (!held)
		return;
	View &v = view(i, s);
	const std::uint64_t inc = held->sample.incarnation, seq = held->sample.sequence;
	if (v.known && atLeast(v.incarnation, v.sequence, inc, seq))
		return;
	if (v.known && alarmsOn_ && nodes_[s].up)
		worstAge_ = std::max(worstAge_, now_ - v.origin);
	bool any = false;
	for (Change &c : changes_[s]) {
		if (c.done || (v.known && atLeast(v.incarnation, v.sequence, c.incarnation, c.sequence)))
			continue;
		if (!atLeast(inc, seq, c.incarnation, c.sequence))
			continue;
		++c.reached;
		c.last = now_;
		any = true;
	}
	v = View{ inc, seq, now_ - held->age, true, false, false };
	if (any)
		settle(s);
}

void Simulation::join()
{
	Node &node = nodes_[*joiner_];
	node.up = true;
	++upCount_;
	joined_ = true;
	joinAt_ = now_;
	schedule(now_, Kind::Sample, *joiner_);
	schedule(now_, Kind::Tick, *joiner_);
}

void Simulation::reach(std::size_t i)
{
	if (i == *joiner_ || !nodes_[*joiner_].gossip->server(idOf(*joiner_), now_) ||
	    !nodes_[i].gossip->server(idOf(*joiner_), now_))
		return;
	reached_[i] = true;
	++reachedCount_;
	const std::size_t others = upCount_ - 1;
	const double took = toMs(now_ - joinAt_);
	if (!join999_ && static_cast<double>(reachedCount_) >= std::ceil(0.999 * static_cast<double>(others)))
		join999_ = took;
	if (!joinAll_ && reachedCount_ >= others)
		joinAll_ = took;
}

void Simulation::settle(std::size_t server)
{
	auto &pending = changes_[server];
	for (Change &c : pending) {
		if (c.done || c.reached < c.needed)
			continue;
		c.done = true;
		if (c.measured && c.reached > 0)
			spread_.push_back(toMs(c.last - c.at));
	}
	while (!pending.empty() && pending.front().done)
		pending.pop_front();
}

void Simulation::checkAlarms(std::size_t i)
{
	if (!alarmsOn_)
		return;
	Gossip &gossip = *nodes_[i].gossip;
	for (std::size_t s = 0; s < setup_.servers; ++s) {
		if (s == i || !nodes_[s].up)
			continue;
		View &v = view(i, s);
		// Our origin is at most 1 ms later than gossip's (ages are whole ms).
		if (!v.known || now_ - v.origin + 1ms < setup_.gossip.suspectAfter)
			continue;
		const Liveness l = gossip.liveness(idOf(s), now_);
		if ((l == Liveness::Suspect || l == Liveness::Dead) && !v.suspected) {
			v.suspected = true;
			++falseSuspect_;
		}
		if (l == Liveness::Dead && !v.dead) {
			v.dead = true;
			++falseDead_;
		}
	}
}

void Simulation::windowStart()
{
	counting_ = true;
	alarmsOn_ = true;
	schedule(now_, Kind::AgePoll, 0);
}

void Simulation::agePoll()
{
	if (!counting_)
		return;
	for (std::size_t i = 0; i < nodes_.size(); ++i) {
		if (!nodes_[i].up)
			continue;
		const Gossip &gossip = *nodes_[i].gossip;
		for (std::size_t s = 0; s < setup_.servers; ++s) {
			if (s == i || (s == joiner_ && !joined_))
				continue;
			if (const auto held = gossip.server(idOf(s), now_))
				ages_.add(held->age);
			else
				++ageMissing_;
		}
		checkAlarms(i);
	}
	const milliseconds poll = setup_.nodes > kLargeNodes ? kLargeAgePoll : kAgePoll;
	if (now_ + poll < windowEnd_)
		schedule(now_ + poll, Kind::AgePoll, 0);
}

void Simulation::crash()
{
	if (trial_ >= victims_.size()) {
		finished_ = true;
		return;
	}
	counting_ = false;
	crashAt_ = now_;
	const std::size_t victim = victims_[trial_];
	nodes_[victim].up = false;
	--upCount_;
	changes_[victim].clear();
	// The victim no longer counts among the nodes a change must reach.
	for (std::size_t s = 0; s < setup_.servers; ++s) {
		if (!nodes_[s].up)
			continue;
		const View &v = view(victim, s);
		for (Change &c : changes_[s])
			if (!c.done && !(v.known && atLeast(v.incarnation, v.sequence, c.incarnation, c.sequence)))
				--c.needed;
		settle(s);
	}
	std::fill(suspectAt_.begin(), suspectAt_.end(), std::nullopt);
	std::fill(deadAt_.begin(), deadAt_.end(), std::nullopt);
	schedule(now_ + kCrashPoll, Kind::CrashPoll, 0);
}

void Simulation::crashPoll()
{
	const std::size_t victim = victims_[trial_];
	bool all = true;
	for (std::size_t i = 0; i < nodes_.size(); ++i) {
		if (!nodes_[i].up)
			continue;
		const Liveness l = nodes_[i].gossip->liveness(idOf(victim), now_);
		if (!suspectAt_[i] && (l == Liveness::Suspect || l == Liveness::Dead))
			suspectAt_[i] = now_;
		if (!deadAt_[i] && l == Liveness::Dead)
			deadAt_[i] = now_;
		all = all && deadAt_[i];
	}
	if (!all && now_ - crashAt_ < crashLimit_) {
		schedule(now_ + kCrashPoll, Kind::CrashPoll, 0);
		return;
	}
	// The time the last live node took, if every one got there.
	auto everywhere = [&](const std::vector<std::optional<SteadyTime>> &at) -> std::optional<double> {
		double worst = 0.0;
		for (std::size_t i = 0; i < nodes_.size(); ++i) {
			if (!nodes_[i].up)
				continue;
			if (!at[i])
				return std::nullopt;
			worst = std::max(worst, toMs(*at[i] - crashAt_));
		}
		return worst;
	};
	trialSuspect_.push_back(everywhere(suspectAt_));
	trialDead_.push_back(everywhere(deadAt_));
	++trial_;
	schedule(now_ + kCrashGap, Kind::Crash, 0);
}

Result Simulation::collect()
{
	Result r;
	const double seconds = std::chrono::duration<double>(setup_.window).count();
	std::uint64_t bytes = 0, packets = 0, statBytes = 0, statPackets = 0;
	for (const Node &node : nodes_) {
		bytes += node.bytes;
		packets += node.packets;
		r.bytesMax = std::max(r.bytesMax, static_cast<double>(node.bytes) / seconds);
		const GossipStats &st = node.gossip->stats();
		statBytes += st.bytesSent;
		statPackets += st.sent;
		r.rateLimited += st.rateLimited;
		if (st.invalid || st.unauthenticated || st.looped)
			throw InternalError(fmt::format("a node refused simulated datagrams: {} invalid ({}), {} "
							"unauthenticated, {} looped",
							st.invalid, st.lastError, st.unauthenticated, st.looped));
	}
	if (statBytes != totalBytes_ || statPackets != totalPackets_)
		throw InternalError(fmt::format("gossip counted {} datagrams, {} bytes; the LAN carried {}, {}",
						statPackets, statBytes, totalPackets_, totalBytes_));
	const double n = static_cast<double>(nodes_.size());
	r.bytesMean = static_cast<double>(bytes) / seconds / n;
	r.packetsMean = static_cast<double>(packets) / seconds / n;
	r.fullStateShare = bytes ? static_cast<double>(fullStateBytes_) / static_cast<double>(bytes) : 0.0;
	r.ageP50 = ages_.quantile(0.5);
	r.ageP99 = ages_.quantile(0.99);
	r.worstAge = toMs(worstAge_);
	r.ageMissing = ageMissing_;
	r.spreadP50 = quantile(spread_, 0.5);
	r.spreadP99 = quantile(spread_, 0.99);
	r.changes = changesMeasured_;
	for (const auto &pending : changes_)
		for (const Change &c : pending)
			r.unfinished += c.measured && !c.done;

	r.suspectAll = trialSuspect_;
	r.deadAll = trialDead_;
	r.crashLimit = toMs(crashLimit_);
	r.falseSuspect = falseSuspect_;
	r.falseDead = falseDead_;
	r.maxDatagram = maxDatagram_;
	r.join999 = join999_;
	r.joinAll = joinAll_;
	return r;
}

// ---- the command line and the report

struct Options {
	std::vector<std::size_t> nodes{ 12, 25, 50, 100 };
	std::vector<std::size_t> servers; // empty: N/2, and 20 as well at N = 100
	std::vector<Scenario> scenarios;
	double seconds = 60.0;
	std::size_t crashes = 5;
	milliseconds sampleInterval{ 250 };
	milliseconds quietSample{ kQuietMeasure };
	GossipConfig gossip;
	std::uint64_t seed = 1;
	bool clientJobs = true;
	bool join = false;
};

const std::vector<Scenario> &namedScenarios()
{
	static const std::vector<Scenario> all{
		{ "changing", 1.0, 0.0 },
		{ "quiet", 0.0, 0.0 },
		{ "lossy", 1.0, 0.05 },
	};
	return all;
}

static_assert(kQuietMeasure == milliseconds(400), "the help names kQuietMeasure's value");

void usage(std::FILE *out)
{
	std::fputs(
		"Usage: gossip-sim [OPTION]...\n"
		"Run dmdns::Gossip on a simulated LAN (virtual clock, no sockets) and print its\n"
		"traffic, sample ages, load-change spread and crash detection.\n"
		"\n"
		"  --nodes=LIST            node counts [12,25,50,100]\n"
		"  --servers=LIST          servers among them [N/2, and 20 as well at N=100]\n"
		"  --seconds=S             measured virtual time per configuration [60]\n"
		"  --crashes=K             servers crashed one after the other afterwards [5]\n"
		"  --scenarios=LIST        of changing (1 load change/s/server), quiet (none),\n"
		"                          lossy (1/s, 5% loss) [all three]\n"
		"  --change-rate=R         load changes per second per server (Poisson); with\n"
		"                          --loss, runs one custom scenario instead [1]\n"
		"  --loss=PERCENT          datagrams lost [0]\n"
		"  --sample-interval=MS    servers' setOwnSample period after a change [250]\n"
		"  --quiet-sample=MS       ... doubling while the load holds, up to MS [the\n"
		"                          daemon's: kQuietMeasure, 400]\n"
		"  --period=MS             GossipConfig::period [gossip's default]\n"
		"  --news-transmits=N      GossipConfig::newsTransmits\n"
		"  --push-pull=MS          GossipConfig::pushPullInterval\n"
		"  --heartbeat-interval=MS GossipConfig::heartbeatInterval\n"
		"  --load-pace=MS          GossipConfig::loadPace\n"
		"  --dead-after=MS         GossipConfig::deadAfter\n"
		"  --seed=N                of the simulation [1]\n"
		"  --no-client-jobs        servers do not say who runs their jobs, nor clients\n"
		"                          their local jobs (the traffic before issue 19)\n"
		"  --clients-interval=MS   GossipConfig::clientsInterval\n"
		"  --clients-transmits=N   GossipConfig::clientsTransmits\n"
		"  --no-relay-jobs         GossipConfig::relayJobs false\n"
		"  --join                  the last server starts 2 s into the window: time until\n"
		"                          99.9 % and all of the others hold its sample\n"
		"  -h, --help              show this help and exit\n"
		"\n"
		"Exits 0 whatever the numbers, 1 on an internal error, 2 on a usage error.\n",
		out);
}

std::vector<std::string_view> splitList(std::string_view text)
{
	std::vector<std::string_view> out;
	for (;;) {
		const auto comma = text.find(',');
		out.push_back(text.substr(0, comma));
		if (comma == std::string_view::npos)
			return out;
		text.remove_prefix(comma + 1);
	}
}

Options parse(int argc, char **argv)
{
	enum {
		OptNodes = 0x100,
		OptServers,
		OptSeconds,
		OptCrashes,
		OptScenarios,
		OptChangeRate,
		OptLoss,
		OptSampleInterval,
		OptQuietSample,
		OptPeriod,
		OptFanout,
		OptPushPull,
		OptHeartbeatInterval,
		OptLoadPace,
		OptDeadAfter,
		OptSeed,
		OptNoClientJobs,
		OptClientsInterval,
		OptClientsTransmits,
		OptNoRelayJobs,
		OptJoin,
	};
	static const option longOptions[] = {
		{ "nodes", required_argument, nullptr, OptNodes },
		{ "servers", required_argument, nullptr, OptServers },
		{ "seconds", required_argument, nullptr, OptSeconds },
		{ "crashes", required_argument, nullptr, OptCrashes },
		{ "scenarios", required_argument, nullptr, OptScenarios },
		{ "change-rate", required_argument, nullptr, OptChangeRate },
		{ "loss", required_argument, nullptr, OptLoss },
		{ "sample-interval", required_argument, nullptr, OptSampleInterval },
		{ "quiet-sample", required_argument, nullptr, OptQuietSample },
		{ "period", required_argument, nullptr, OptPeriod },
		{ "news-transmits", required_argument, nullptr, OptFanout },
		{ "push-pull", required_argument, nullptr, OptPushPull },
		{ "heartbeat-interval", required_argument, nullptr, OptHeartbeatInterval },
		{ "load-pace", required_argument, nullptr, OptLoadPace },
		{ "dead-after", required_argument, nullptr, OptDeadAfter },
		{ "seed", required_argument, nullptr, OptSeed },
		{ "no-client-jobs", no_argument, nullptr, OptNoClientJobs },
		{ "clients-interval", required_argument, nullptr, OptClientsInterval },
		{ "clients-transmits", required_argument, nullptr, OptClientsTransmits },
		{ "no-relay-jobs", no_argument, nullptr, OptNoRelayJobs },
		{ "join", no_argument, nullptr, OptJoin },
		{ "help", no_argument, nullptr, 'h' },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	cli::Parser cli("gossip-sim");
	std::optional<double> changeRate, loss;
	bool named = false;
	auto ms = [&](const char *name) { return milliseconds(cli.integer(name, optarg, 1, 600'000)); };
	for (int c; (c = getopt_long(argc, argv, "h", longOptions, nullptr)) != -1;) {
		switch (c) {
		case OptNodes:
			o.nodes.clear();
			for (std::string_view item : splitList(optarg))
				o.nodes.push_back(static_cast<std::size_t>(cli.integer("--nodes", item, 2, kMaxNodes)));
			break;
		case OptServers:
			o.servers.clear();
			for (std::string_view item : splitList(optarg))
				o.servers.push_back(static_cast<std::size_t>(cli.integer("--servers", item, 1, kMaxNodes)));
			break;
		case OptSeconds:
			o.seconds = cli.decimal("--seconds", optarg, 1.0, 3600.0);
			break;
		case OptCrashes:
			o.crashes = static_cast<std::size_t>(cli.integer("--crashes", optarg, 1, 100));
			break;
		case OptScenarios:
			named = true;
			for (std::string_view item : splitList(optarg)) {
				const auto &all = namedScenarios();
				const auto it = std::find_if(all.begin(), all.end(),
							     [&](const Scenario &s) { return s.name == item; });
				if (it == all.end())
					cli.fail("unknown scenario '{}' (changing, quiet, lossy)", item);
				o.scenarios.push_back(*it);
			}
			break;
		case OptChangeRate:
			changeRate = cli.decimal("--change-rate", optarg, 0.0, 1000.0);
			break;
		case OptLoss:
			loss = cli.decimal("--loss", optarg, 0.0, 90.0) / 100.0;
			break;
		case OptSampleInterval:
			o.sampleInterval = ms("--sample-interval");
			break;
		case OptQuietSample:
			o.quietSample = ms("--quiet-sample");
			break;
		case OptPeriod:
			o.gossip.period = ms("--period");
			break;
		case OptFanout:
			o.gossip.newsTransmits = static_cast<unsigned>(cli.integer("--news-transmits", optarg, 1, 64));
			break;
		case OptPushPull:
			o.gossip.pushPullInterval = ms("--push-pull");
			break;
		case OptHeartbeatInterval:
			o.gossip.heartbeatInterval = ms("--heartbeat-interval");
			break;
		case OptLoadPace:
			o.gossip.loadPace = ms("--load-pace");
			o.gossip.minLoadPace = std::min(o.gossip.minLoadPace, o.gossip.loadPace);
			break;
		case OptDeadAfter:
			o.gossip.deadAfter = ms("--dead-after");
			if (o.gossip.deadAfter < o.gossip.suspectAfter)
				cli.fail("--dead-after below suspectAfter");
			break;
		case OptSeed:
			o.seed = static_cast<std::uint64_t>(cli.integer("--seed", optarg, 0, INT64_MAX));
			break;
		case OptNoClientJobs:
			o.clientJobs = false;
			break;
		case OptClientsInterval:
			o.gossip.clientsInterval = ms("--clients-interval");
			break;
		case OptClientsTransmits:
			o.gossip.clientsTransmits = static_cast<unsigned>(cli.integer("--clients-transmits", optarg, 1, 64));
			break;
		case OptNoRelayJobs:
			o.gossip.relayJobs = false;
			break;
		case OptJoin:
			o.join = true;
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (optind < argc)
		cli.fail("unexpected argument '{}'", argv[optind]);
	if (changeRate || loss) {
		if (named)
			cli.fail("--scenarios cannot be combined with --change-rate or --loss");
		o.scenarios = { { "custom", changeRate.value_or(1.0), loss.value_or(0.0) } };
	} else if (!named) {
		o.scenarios = namedScenarios();
	}
	for (std::size_t n : o.nodes)
		for (std::size_t s : o.servers)
			if (s > n)
				cli.fail("--servers {} is more than --nodes {}", s, n);
	return o;
}

std::string num(std::optional<double> value)
{
	return value ? fmt::format("{:.0f}", *value) : std::string("-");
}

std::string seconds(std::optional<double> ms)
{
	return ms ? fmt::format("{:.2f} s", *ms / 1000.0) : std::string("-");
}

std::string precise(std::optional<double> ms)
{
	return ms ? fmt::format("{:.3f} s", *ms / 1000.0) : std::string("never");
}

// The slowest of the crashes; empty if one was not seen everywhere.
std::optional<double> worst(const std::vector<std::optional<double>> &trials)
{
	double out = 0.0;
	for (const auto &t : trials) {
		if (!t)
			return std::nullopt;
		out = std::max(out, *t);
	}
	return trials.empty() ? std::nullopt : std::optional<double>(out);
}

std::optional<double> median(const std::vector<std::optional<double>> &trials)
{
	std::vector<double> seen;
	for (const auto &t : trials)
		if (t)
			seen.push_back(*t);
	return quantile(std::move(seen), 0.5);
}

std::string crashText(const std::vector<std::optional<double>> &trials)
{
	const auto w = worst(trials);
	return w ? fmt::format("{:.0f}", *w) : std::string("never");
}

void printHeader(const Options &o)
{
	const GossipConfig &g = o.gossip;
	fmt::print("gossip-sim: dmdns::Gossip on a simulated LAN, virtual clock (no sockets, no sleeping)\n");
	fmt::print("gossip: period {} ms, own news to every peer, news transmits {}, load paced per peer every {} ms, "
		   "hello interval {} ms, push-pull {} ms (trusted relays only), suspect after {} ms, dead after {} ms\n",
		   g.period.count(), g.newsTransmits, g.loadPace.count(), g.heartbeatInterval.count(),
		   g.pushPullInterval.count(), g.suspectAfter.count(), g.deadAfter.count());
	fmt::print("harness: every node peers with every other; servers sample every {} ms after a change, doubling to {} ms while it holds; load a random walk "
		   "over 0-{} running; delivery 0.2-2 ms; {} s warm-up, {} s measured, then {} servers crash one "
		   "after the other\n",
		   o.sampleInterval.count(), std::max(o.quietSample, o.sampleInterval).count(), kSlots, kWarmup.count() / 1000, o.seconds, o.crashes);
	fmt::print("client jobs: {}\n", o.clientJobs ? "servers gossip which client runs each job (CLIENTS), clients "
						       "their 2 local jobs (LOCAL_JOBS)"
						     : "not gossiped (--no-client-jobs)");
	fmt::print("B/s: UDP payload bytes sent per node (add 28 B per packet for IPv4+UDP); pp%: share in "
		   "push-pull datagrams\n");
	fmt::print("age: of every server's sample at every other node, polled every {} ms; worst: the oldest "
		   "any live server's sample got anywhere\n",
		   kAgePoll.count());
	fmt::print("spread: from the sample carrying a new load until every live node holds it or newer "
		   "(sampling adds 0-{} ms)\n",
		   o.sampleInterval.count());
	fmt::print("crash: from the crash until every other node reports it suspect / dead, the slowest of the "
		   "crashes and their median (polled every {} ms)\n",
		   kCrashPoll.count());
	fmt::print("false: (node, live server) pairs that went suspect / dead, from the window on\n\n");
	fmt::print("                            |        traffic per node       |   sample age (ms)   "
		   "|  change spread (ms)  |     crash (ms)      |   false\n");
	fmt::print("   N    S scenario chg/s loss | B/s mean  B/s max pkt/s  pp% |   p50    p99  worst "
		   "|   p50    p99 changes | suspect  dead   p50 | susp  dead\n");
}

void printRow(const Setup &s, const Result &r)
{
	fmt::print("{:>4} {:>4} {:<8} {:>5.1f} {:>3.0f}% | {:>8.0f} {:>8.0f} {:>5.1f} {:>3.0f}% | {:>5} {:>6} {:>6.0f} "
		   "| {:>5} {:>6} {:>7} | {:>7} {:>5} {:>5} | {:>4} {:>5}\n",
		   s.nodes, s.servers, s.scenario.name, s.scenario.changeRate, s.scenario.loss * 100, r.bytesMean,
		   r.bytesMax, r.packetsMean, r.fullStateShare * 100, num(r.ageP50), num(r.ageP99), r.worstAge,
		   num(r.spreadP50), num(r.spreadP99), r.changes, crashText(r.suspectAll), crashText(r.deadAll),
		   num(median(r.deadAll)), r.falseSuspect, r.falseDead);
	std::fflush(stdout);
}

std::string verdict(bool met)
{
	return met ? "yes" : "NO";
}

void printSummary(const Setup &s, const Result &r)
{
	std::string notes;
	if (r.unfinished)
		notes += fmt::format("; {} changes never reached every node", r.unfinished);
	if (r.ageMissing)
		notes += fmt::format("; {} polls found a server not yet heard of", r.ageMissing);
	if (r.rateLimited)
		notes += fmt::format("; {} datagrams rate-limited", r.rateLimited);
	if (s.join)
		notes += fmt::format("; a new server reached 99.9 % of the nodes after {}, all after {}", precise(r.join999),
				     precise(r.joinAll));
	auto crash = [&](const std::vector<std::optional<double>> &trials) {
		const auto w = worst(trials);
		return w ? seconds(w) : fmt::format("not within {:.0f} s", r.crashLimit / 1000);
	};
	const auto dead = worst(r.deadAll);
	fmt::print("summary N={} S={} {}: {:.0f} B/s/node (max {:.0f}), {:.1f} pkt/s/node; age p50 {}, p99 {}; "
		   "change everywhere p50 {}, p99 {}; {} crashes: suspect everywhere within {}, dead everywhere "
		   "within {} (median {}); false suspect {}, dead {}{} | goal <2000 B/s {}, age p50 <=1 s {}, "
		   "p99 <=2 s {}, dead <=3.5 s {} (largest datagram {} B, wall {:.1f} s)\n",
		   s.nodes, s.servers, s.scenario.name, r.bytesMean, r.bytesMax, r.packetsMean, seconds(r.ageP50),
		   seconds(r.ageP99), seconds(r.spreadP50), seconds(r.spreadP99), r.deadAll.size(),
		   crash(r.suspectAll), crash(r.deadAll), seconds(median(r.deadAll)), r.falseSuspect, r.falseDead,
		   notes, verdict(r.bytesMean < kGoalBytes), verdict(r.ageP50 && *r.ageP50 <= kGoalAgeMs),
		   verdict(r.ageP99 && *r.ageP99 <= kGoalAgeP99Ms), verdict(dead && *dead <= kGoalDeadMs), r.maxDatagram, r.wallSeconds);
}

int run(int argc, char **argv)
{
	const Options o = parse(argc, argv);
	std::vector<std::pair<std::size_t, std::size_t>> sizes;
	for (std::size_t n : o.nodes) {
		if (o.servers.empty()) {
			sizes.emplace_back(n, std::max<std::size_t>(1, n / 2));
			if (n == 100)
				sizes.emplace_back(n, 20);
		} else {
			for (std::size_t s : o.servers)
				sizes.emplace_back(n, s);
		}
	}

	printHeader(o);
	std::vector<std::pair<Setup, Result>> done;
	for (const auto &[n, s] : sizes) {
		for (std::size_t k = 0; k < o.scenarios.size(); ++k) {
			Setup setup;
			setup.nodes = n;
			setup.servers = s;
			setup.scenario = o.scenarios[k];
			setup.gossip = o.gossip;
			setup.sampleInterval = o.sampleInterval;
			setup.quietSample = o.quietSample;
			setup.window = std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(o.seconds));
			setup.crashes = o.crashes;
			setup.seed = o.seed * 1'000'003 + n * 1009 + s * 31 + k;
			setup.clientJobs = o.clientJobs;
			setup.join = o.join;
			Simulation sim(setup);
			const Result r = sim.run();
			printRow(setup, r);
			done.emplace_back(std::move(setup), r);
		}
	}
	fmt::print("\n");
	for (const auto &[setup, r] : done)
		printSummary(setup, r);
	return EXIT_SUCCESS;
}

} // namespace
} // namespace dmdns

int main(int argc, char **argv)
{
	try {
		return dmdns::run(argc, argv);
	} catch (const std::exception &e) {
		std::fflush(stdout);
		fmt::print(stderr, "gossip-sim: internal error: {}\n", e.what());
		return EXIT_FAILURE;
	}
}

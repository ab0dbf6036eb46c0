// Gossip state machine: its setup, the rounds it sends (news, hellos, probes, push-pull), and what it knows.
#include "distcc-mdns/gossip.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace dmdns {

namespace {

using gossip::ageMs;
using std::chrono::milliseconds;

} // namespace

LoadSample GossipServer::load() const
{
	LoadSample l;
	l.running = sample.running;
	l.runnable = sample.runnable;
	l.incarnation = sample.incarnation;
	l.sequence = sample.sequence;
	l.age = age;
	return l;
}

Gossip::Gossip(GossipConfig config)
	: config_(std::move(config)), incarnation_(config_.incarnation), rng_(config_.seed),
	  own_({ config_.node, config_.incarnation, config_.newsTransmits, config_.demandRefresh, config_.reservationTtl, config_.maxReservations,
		 config_.speedRefresh, config_.speedPerRound, config_.speedInState, config_.maxServers,
		 config_.clientsInterval, config_.localJobsRefresh, config_.clientsTransmits }),
	  packer_({ config_.node, config_.incarnation, config_.maxDatagram, config_.minRequest, config_.sign }),
	  peers_(config_.maxPeers, config_.maxServers, config_.deadAfter),
	  servers_(config_.maxServers, config_.maxLeaves, config_.forgetAfter),
	  clients_(config_.maxDemands, config_.maxReservations, config_.demandTtl),
	  jobs_(config_.maxServers, config_.maxDemands, config_.forgetAfter),
	  limiter_(config_.rateLimit, config_.rateBurst, config_.maxSources), replay_(config_.maxSources),
	  validator_([this] { return nextRandom(); }, config_.maxSources, config_.cookieLifetime),
	  jar_(config_.maxPeers),
	  speeds_({ config_.speedHalfLife, config_.speedHalfLifeJobs, config_.maxServers, config_.maxSpeedReports }),
	  speedModel_(config_.speedPolicy)
{
	if (config_.node == 0)
		throw std::invalid_argument("gossip node id 0");
	if (config_.incarnation >= wire::kMaxCounter)
		throw std::invalid_argument("gossip incarnation absurd");
	if (config_.period <= milliseconds::zero() || config_.pushPullInterval <= milliseconds::zero() ||
	    config_.minLoadPace <= milliseconds::zero() || config_.minLoadPace > config_.loadPace)
		throw std::invalid_argument("gossip periods must be positive");
	if (config_.newsTransmits == 0)
		throw std::invalid_argument("gossip news must be sent at least once");
	if (config_.suspectAfter > config_.deadAfter)
		throw std::invalid_argument("gossip suspectAfter beyond deadAfter");
	if (config_.reservationTtl <= milliseconds::zero() ||
	    config_.reservationTtl > milliseconds(wire::kMaxReservationTtlMs))
		throw std::invalid_argument("gossip reservation ttl out of range");
	// Every record must fit in one datagram on its own.
	if (config_.maxDatagram < wire::kHeaderSize + wire::kTagSize + 2 + wire::kSampleSize ||
	    config_.maxDatagram > wire::kMaxDatagram)
		throw std::invalid_argument("gossip datagram size out of range");
	if (config_.minRequest > config_.maxDatagram)
		throw std::invalid_argument("gossip minimum request over the datagram size");
}

std::uint64_t Gossip::nextRandom()
{
	return config_.random ? config_.random() : rng_();
}

// ---- peers

bool Gossip::addPeer(const Endpoint &peer, bool pull)
{
	return peers_.add(peer, pull);
}

bool Gossip::removePeer(const Endpoint &peer)
{
	return peers_.remove(peer);
}

std::optional<std::uint64_t> Gossip::peerNode(const Endpoint &peer) const
{
	const gossip::Peer *p = peers_.find(peer);
	if (!p || p->node == 0)
		return std::nullopt;
	return p->node;
}

std::vector<Endpoint> Gossip::peers() const
{
	std::vector<Endpoint> out;
	for (const gossip::Peer &p : peers_.all())
		out.push_back(p.endpoint);
	return out;
}

void Gossip::pin(std::span<const std::uint64_t> servers)
{
	callerPins_.assign(servers.begin(), servers.end());
	repin();
}

void Gossip::repin()
{
	std::vector<std::uint64_t> pins = callerPins_;
	for (const auto &[id, r] : relayed_)
		pins.push_back(id);
	servers_.pin(pins);
}

void Gossip::vouch(std::map<std::uint64_t, std::set<std::string>> addresses)
{
	peers_.vouch(std::move(addresses));
}

// ---- own state

void Gossip::setOwnSample(wire::Sample sample, SteadyTime now)
{
	own_.setSample(sample, now);
}

void Gossip::setOwnProfile(std::uint64_t digest, SteadyTime now)
{
	own_.setProfile(digest, now);
}

void Gossip::setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now)
{
	own_.setDemand(wanted, localSlots, now);
}

void Gossip::reserve(std::uint64_t server, std::uint32_t count, SteadyTime now)
{
	if (own_.reserve(server, count, now))
		++stats_.evicted;
}

// ---- learned speed

void Gossip::recordJob(std::uint64_t server, std::chrono::milliseconds wall, SteadyTime end)
{
	if (!config_.learnSpeed || server == 0 || server == config_.node)
		return;
	// The job had a core of its own while the server ran no more jobs (or
	// runnable tasks) than cores; beyond, its share, averaged over the
	// samples the server sent while the job ran. Not corrected: the
	// client's own preprocessing and the transfer, which every server's
	// jobs of this client carry alike.
	const double ms = std::max<double>(1.0, static_cast<double>(wall.count())) *
			  speeds_.share(server, end - wall, end);
	const gossip::SpeedTable::Own &window = speeds_.record(server, std::log(std::max(ms, 1.0)), end);
	own_.setSpeed(server, window.logTime, window.weight, end);
	speedDirty_ = true;
}

void Gossip::refitSpeeds(SteadyTime now) const
{
	if (!speedDirty_ && speedFitted_ && now - *speedFitted_ < std::chrono::seconds(1))
		return;
	std::map<std::uint64_t, double> benchmarks;
	if (own_.sample())
		benchmarks[config_.node] = own_.sample()->speed;
	for (const auto &[id, e] : servers_.entries())
		benchmarks[id] = e.sample.speed;
	speedModel_.fit(speeds_.reports(now), benchmarks);
	speedDirty_ = false;
	speedFitted_ = now;
}

SpeedEstimate Gossip::speedOf(std::uint64_t server, double advertised, SteadyTime now) const
{
	if (config_.learnSpeed)
		refitSpeeds(now);
	// Never fitted without learnSpeed: the benchmark.
	return speedModel_.estimate(server, advertised);
}

// ---- sending

std::vector<wire::Record> Gossip::fullState(SteadyTime now, bool ownList) const
{
	std::vector<wire::Record> out = own_.state(now, ownList);
	auto fresh = [&](SteadyTime origin) { return now - origin <= milliseconds(wire::kMaxAgeMs); };
	for (const auto &[node, left] : servers_.leaves())
		out.push_back(wire::Leave{ node, left.incarnation });
	for (const auto &[id, e] : servers_.entries()) {
		if (!fresh(e.origin) || servers_.hasLeft(id, e.sample.incarnation))
			continue;
		wire::Sample s = e.sample;
		s.ageMs = ageMs(e.origin, now);
		out.push_back(s);
	}
	for (const auto &[key, e] : clients_.reservations()) {
		wire::Reservation r = e.reservation;
		if (r.count == 0 || e.origin + milliseconds(r.ttlMs) <= now)
			continue;
		r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
		out.push_back(r);
	}
	for (const auto &[client, e] : clients_.demands()) {
		if (!fresh(e.origin))
			continue;
		wire::Demand d = e.demand;
		d.ageMs = ageMs(e.origin, now);
		out.push_back(d);
	}
	// Others' lists of their current run, and local jobs, as held: a list
	// goes out on change only, so a node that missed it gets it here.
	for (std::uint64_t id : config_.relayJobs ? jobs_.listed() : std::vector<std::uint64_t>{}) {
		const gossip::JobsTable::List *list = jobs_.clientsOf(id);
		const gossip::ServerTable::Entry *e = servers_.find(id);
		if (!e || e->sample.incarnation != list->incarnation || servers_.hasLeft(id, list->incarnation))
			continue;
		for (wire::Clients &part : gossip::JobsTable::parts(id, *list))
			out.push_back(std::move(part));
	}
	if (config_.relayJobs)
		for (const auto &[client, l] : jobs_.locals())
			out.push_back(l.record);
	return out;
}

std::vector<wire::Record> Gossip::whereRecords(SteadyTime now) const
{
	// Only what this node hears itself, so that a WHERE never outlives its
	// server by more than a relayGrace at the next hop: a dead server is
	// heard first hand nowhere, and nobody names it any more.
	std::vector<wire::Record> out;
	std::set<std::uint64_t> named;
	for (const gossip::Peer &p : peers_.all()) {
		if (p.node == 0 || p.node == config_.node || !p.heard || now - *p.heard >= config_.suspectAfter ||
		    named.contains(p.node) || peers_.nodeAt(p.endpoint.address) != p.node)
			continue;
		const gossip::ServerTable::Entry *e = servers_.find(p.node);
		const auto bytes = wire::addressBytes(p.endpoint.address);
		if (!e || !bytes || liveness(p.node, now) != Liveness::Alive)
			continue;
		wire::Where w{ p.node, e->sample.incarnation, *bytes, p.endpoint.port };
		if (!wire::validate(w).empty())
			continue; // link-local, loopback: nothing another subnet can reach
		named.insert(p.node);
		out.push_back(w);
	}
	return out;
}

std::vector<RelayedServer> Gossip::relayedServers(SteadyTime now) const
{
	std::vector<RelayedServer> out;
	for (const auto &[id, r] : relayed_) {
		const Liveness l = liveness(id, now);
		if (l == Liveness::Alive || l == Liveness::Suspect)
			out.push_back({ id, r.at });
	}
	return out;
}

std::vector<Datagram> Gossip::request(const Endpoint &to, SteadyTime now, bool introduce)
{
	std::vector<Datagram> out;
	for (auto &bytes : packer_.pack(own_.state(now, introduce, introduce), wire::kFlagPushPullRequest, jar_.find(to.address)))
		out.push_back({ to, std::move(bytes) });
	return out;
}

void Gossip::count(const std::vector<Datagram> &out)
{
	for (const Datagram &d : out) {
		++stats_.sent;
		stats_.bytesSent += d.bytes.size();
	}
}

void Gossip::expire(SteadyTime now)
{
	// A relayed server stays for relayGrace after a WHERE named it (time
	// to answer our first request), and while its gossip was heard within
	// forgetAfter: listed only while alive or suspect, it keeps its peer
	// through a blip (a relay names an unchanged server only every
	// whereRefresh), as a server mDNS still shows does.
	const std::size_t relayed = relayed_.size();
	std::erase_if(relayed_, [&](const auto &kv) {
		const auto &[id, r] = kv;
		const std::optional<GossipServer> heard = server(id, now);
		if (now - r.named < config_.relayGrace || (heard && heard->liveness != Liveness::Left &&
							   heard->age < config_.forgetAfter))
			return false;
		dropRelayedPeer(r);
		return true;
	});
	if (relayed_.size() != relayed)
		repin();
	servers_.expire(now);
	clients_.expire(now);
	jobs_.expire(now, [&](std::uint64_t server) { return servers_.find(server) != nullptr; });
	own_.expire(now);
	speeds_.expire(now);
	peers_.expire(now, config_.forgetAfter);
	limiter_.expire(now);
	validator_.expire(now);
	std::erase_if(probed_, [&](const auto &kv) { return now - kv.second > config_.forgetAfter; });
	stats_.evicted = servers_.evicted() + clients_.evicted() + peers_.evicted() + limiter_.evicted() +
			 speeds_.evicted() + jobs_.evicted() + relayEvicted_;
}

std::vector<Datagram> Gossip::tick(SteadyTime now)
{
	if (left_)
		return {};
	if (!started_) {
		started_ = true;
		nextRound_ = now;
		nextPushPull_ = now + config_.pushPullInterval;
	}
	expire(now);

	// Keep a live demand from expiring elsewhere.
	own_.renewDemand(now);

	std::vector<Datagram> out;
	const auto heard = [&](const gossip::Peer &p) {
		return p.heard && now - *p.heard <= config_.forgetAfter;
	};
	if (now >= nextRound_) {
		nextRound_ += config_.period;
		if (nextRound_ <= now)
			nextRound_ = now + config_.period;
		// Own news only, first hand, to every peer the caller gave that
		// answers: each learns of this node from this node. The load
		// rides on each peer's own paced turn (loadPace), and the client
		// list on some of them.
		const std::vector<wire::Record> news = own_.round(now);
		const std::vector<std::vector<std::uint8_t>> datagrams =
			news.empty() ? std::vector<std::vector<std::uint8_t>>{} : packer_.pack(news, 0);
		std::size_t listeners = 0;
		for (const gossip::Peer &p : peers_.all())
			listeners += !p.learnt && heard(p);
		const std::vector<wire::Record> list = own_.clientParts();
		std::size_t listBytes = 0;
		for (const wire::Record &r : list)
			listBytes += wire::encodedSize(r);
		// At many peers a list goes to each less often, so that all of
		// them together get about clientsBytes a second.
		const auto listEvery =
			std::max<milliseconds>(config_.clientsInterval,
					       milliseconds(listeners * listBytes * 1000 / std::max<std::size_t>(config_.clientsBytes, 1)));
		// A paced turn is a header and a Load, about.
		constexpr std::size_t kTurnBytes = wire::kHeaderSize + 2 + wire::kLoadSize;
		const auto pace = std::clamp<milliseconds>(
			milliseconds(listeners * kTurnBytes * 1000 / std::max<std::size_t>(config_.loadBytes, 1)),
			config_.minLoadPace, config_.loadPace);
		// What the turns leave of loadBytes builds up, to one burst at
		// most: a new load goes to every peer at once while it lasts (at
		// few peers; at many the turns take the whole budget).
		const double burstBytes = static_cast<double>(listeners * kTurnBytes);
		const double turnsRate = burstBytes * 1000.0 / static_cast<double>(pace.count());
		if (spareAt_)
			spare_ = std::min(burstBytes, spare_ + std::max(0.0, static_cast<double>(config_.loadBytes) - turnsRate) *
								       std::chrono::duration<double>(now - *spareAt_).count());
		spareAt_ = now;
		bool burst = false;
		// Within two periods: the loop's timer fires a millisecond or more
		// after the period, and a change missed here waits for a paced turn.
		if (listeners > 0 && own_.newLoad(now, 2 * config_.period) && spare_ >= burstBytes) {
			spare_ -= burstBytes;
			own_.announce();
			burst = true;
		}
		const std::uint64_t listSequence = own_.clientsSequence();
		std::vector<wire::Record> paced;
		for (gossip::Peer &p : peers_.all()) {
			if (p.learnt || !heard(p))
				continue;
			if (!p.paced) {
				// A phase of its own, so that a server's turns spread
				// over the pace instead of bursting.
				std::uniform_int_distribution<std::int64_t> phase(0, pace.count() - 1);
				p.paced = now + milliseconds(phase(rng_));
			}
			const bool due = now >= *p.paced;
			if (!due && !burst) {
				for (const auto &bytes : datagrams)
					out.push_back({ p.endpoint, bytes });
				continue;
			}
			if (due) {
				*p.paced += pace;
				if (*p.paced <= now)
					*p.paced = now + pace;
			}
			paced = news;
			for (wire::Record &r : own_.paced(now))
				paced.push_back(std::move(r));
			if (due && listSequence != 0 && p.listSent != listSequence &&
			    (!p.listAt || now - *p.listAt >= listEvery)) {
				paced.insert(paced.end(), list.begin(), list.end());
				p.listSent = listSequence;
				p.listAt = now;
			}
			if (!paced.empty())
				for (auto &bytes : packer_.pack(paced, 0))
					out.push_back({ p.endpoint, std::move(bytes) });
		}
	}

	for (gossip::Peer &p : peers_.all()) {
		if (p.learnt)
			continue;
		// A peer not heard from yet (or gone quiet) is asked, less and
		// less often, up to once a minute: an address that mDNS or a
		// forger named gets little it did not ask for.
		if (!heard(p)) {
			const auto wait = config_.heartbeatInterval * (1 << std::min(p.hellos, 6u));
			if (p.hello && now - *p.hello < wait)
				continue;
			p.hello = now;
			++p.hellos;
			for (Datagram &d : request(p.endpoint, now, true))
				out.push_back(std::move(d));
			continue;
		}
		// A suspect that is also a peer is asked directly (as SWIM probes):
		// alive, it answers with its own fresh sample; crashed, it stays
		// silent. Twice before it would be dead: a lost paced turn makes a
		// suspect, and a lost probe should not make it dead.
		if (p.node != 0 && liveness(p.node, now) == Liveness::Suspect &&
		    (!p.probed || now - *p.probed >= (config_.deadAfter - config_.suspectAfter) / 2)) {
			p.probed = now;
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
			continue;
		}
		// Peers that may not know us (--peer, a relayed server) are asked
		// for their news once a heartbeat interval: they answer even if
		// they never write first, and send no paced turns to a node they
		// did not find themselves.
		if ((p.pull || p.relayed) && (!p.pulled || now - *p.pulled >= config_.heartbeatInterval)) {
			p.pulled = now;
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
		}
	}

	// Anti-entropy: one random peer that answers, and whose word on others
	// this node believes (any with a key, else a --peer), is asked for its
	// state. Without a key the rest repair nothing by it: what a server
	// says of itself reaches every peer first hand on its paced turns.
	if (now >= nextPushPull_) {
		nextPushPull_ = now + config_.pushPullInterval;
		std::vector<const gossip::Peer *> ready;
		for (const gossip::Peer &p : peers_.all())
			if (!p.learnt && heard(p) && (config_.verify || p.pull))
				ready.push_back(&p);
		if (!ready.empty()) {
			std::uniform_int_distribution<std::size_t> pick(0, ready.size() - 1);
			const Endpoint to = ready[pick(rng_)]->endpoint;
			for (Datagram &d : request(to, now))
				out.push_back(std::move(d));
		}
	}
	count(out);
	return out;
}

std::vector<Datagram> Gossip::leave(SteadyTime now)
{
	(void)now;
	if (left_)
		return {};
	left_ = true;
	std::vector<Datagram> out;
	for (const auto &bytes : packer_.pack({ wire::Leave{ config_.node, incarnation_ } }, 0))
		for (const gossip::Peer &p : peers_.all())
			out.push_back({ p.endpoint, bytes });
	count(out);
	return out;
}

// ---- queries

std::optional<GossipServer> Gossip::server(std::uint64_t id, SteadyTime now) const
{
	GossipServer out;
	SteadyTime origin;
	if (id == config_.node) {
		if (!own_.sample())
			return std::nullopt;
		out.sample = *own_.sample();
		origin = own_.sampleOrigin();
		out.firstHand = true;
	} else {
		const gossip::ServerTable::Entry *e = servers_.find(id);
		if (!e)
			return std::nullopt;
		out.sample = e->sample;
		origin = e->origin;
		out.firstHand = e->anchored && e->anchorIncarnation == e->sample.incarnation &&
				e->anchorSequence == e->sample.sequence;
	}
	out.sample.ageMs = ageMs(origin, now);
	out.age = std::max(milliseconds::zero(), std::chrono::duration_cast<milliseconds>(now - origin));
	out.liveness = liveness(id, now);
	return out;
}

Liveness Gossip::liveness(std::uint64_t id, SteadyTime now) const
{
	if (id == config_.node)
		return !own_.sample() ? Liveness::Unknown : left_ ? Liveness::Left
								  : Liveness::Alive;
	const gossip::ServerTable::Entry *e = servers_.find(id);
	if (!e)
		return servers_.leftAny(id) ? Liveness::Left : Liveness::Unknown;
	if (servers_.hasLeft(id, e->sample.incarnation))
		return Liveness::Left;
	const auto silent = now - e->origin;
	if (silent < config_.suspectAfter)
		return Liveness::Alive;
	if (silent < config_.deadAfter)
		return Liveness::Suspect;
	return Liveness::Dead;
}

std::optional<std::uint64_t> Gossip::profileDigest(std::uint64_t server) const
{
	if (server == config_.node) {
		const std::optional<wire::Profile> own = own_.profile();
		return own ? std::optional(own->digest) : std::nullopt;
	}
	return servers_.profileDigest(server);
}

std::uint64_t Gossip::capacity() const
{
	// The listed servers' slots, or every known one's while none is listed.
	std::uint64_t listed = own_.sample() ? own_.sample()->slots : 0, all = listed;
	bool anyListed = false;
	for (const auto &[id, e] : servers_.entries()) {
		all += e.sample.slots;
		if (servers_.pinned(id)) {
			listed += e.sample.slots;
			anyListed = true;
		}
	}
	// No server known yet: nothing to share, and nothing to cap by.
	if (all == 0)
		return wire::kMaxWantedJobs;
	return anyListed ? listed : all;
}

std::uint32_t Gossip::reservedByOthers(std::uint64_t server, SteadyTime now) const
{
	return reservedByOthers(std::span<const std::uint64_t>(&server, 1), now).front();
}

std::vector<std::uint32_t> Gossip::reservedByOthers(std::span<const std::uint64_t> servers, SteadyTime now) const
{
	std::vector<gossip::ClientTable::Sampled> sampled;
	sampled.reserve(servers.size());
	for (std::uint64_t server : servers) {
		gossip::ClientTable::Sampled &s = sampled.emplace_back(gossip::ClientTable::Sampled{ server, {} });
		if (server == config_.node && own_.sample())
			s.sampled = own_.sampleOrigin();
		else if (const gossip::ServerTable::Entry *e = servers_.find(server))
			s.sampled = e->origin;
	}
	return clients_.reservedOn(sampled, config_.reservationCoverAfter, now, capacity());
}

std::vector<std::uint32_t> Gossip::demands(SteadyTime now) const
{
	return othersDemand(now).each;
}

gossip::ClientTable::Tally Gossip::othersDemand(SteadyTime now) const
{
	return clients_.tally(now, capacity());
}

DemandSummary Gossip::demand(SteadyTime now, bool includeOwn) const
{
	const std::uint64_t capacity = this->capacity();
	DemandSummary sum = clients_.tally(now, capacity).summary;
	const wire::Demand *d = own_.demand();
	if (includeOwn && d && !left_) {
		if (d->wanted > 0) {
			sum.wanted += gossip::capped(*d, capacity);
			sum.localSlots += d->localSlots;
			++sum.clients;
		}
	}
	return sum;
}

// ---- clients' jobs

namespace {

std::vector<ClientJobs> clientJobsOf(const gossip::JobsTable::List &list)
{
	std::vector<ClientJobs> out;
	for (const wire::ClientEntry &e : list.entries)
		out.push_back({ wire::addressText(e.address), e.running });
	if (list.others > 0)
		out.push_back({ std::string(), list.others });
	return out;
}

} // namespace

void Gossip::setOwnClients(std::vector<ClientJobs> clients)
{
	// One entry per address (the daemon may count v4 and v4-mapped
	// apart), busiest first, then by address so that an unchanged farm
	// gives an unchanged list; what is not named is summed.
	std::map<std::array<std::uint8_t, 16>, std::uint64_t> byAddress;
	std::uint64_t others = 0;
	for (const ClientJobs &c : clients) {
		if (c.running == 0)
			continue;
		if (const auto bytes = c.address.empty() ? std::nullopt : wire::addressBytes(c.address))
			byAddress[*bytes] += c.running;
		else
			others += c.running;
	}
	std::vector<wire::ClientEntry> entries;
	for (const auto &[address, running] : byAddress)
		entries.push_back(
			{ address, static_cast<std::uint32_t>(std::min<std::uint64_t>(running, wire::kMaxClientJobs)) });
	std::stable_sort(entries.begin(), entries.end(),
			 [](const wire::ClientEntry &a, const wire::ClientEntry &b) { return a.running > b.running; });
	if (entries.size() > wire::kMaxClientEntries) {
		for (std::size_t i = wire::kMaxClientEntries; i < entries.size(); ++i)
			others += entries[i].running;
		entries.resize(wire::kMaxClientEntries);
	}
	own_.setClients(std::move(entries),
			static_cast<std::uint32_t>(std::min<std::uint64_t>(others, wire::kMaxClientJobs)));
}

void Gossip::setOwnLocalJobs(std::uint32_t jobs)
{
	own_.setLocalJobs(jobs);
}

std::vector<ClientJobs> Gossip::serverClients(std::uint64_t serverId) const
{
	if (serverId == config_.node)
		return own_.clients() ? clientJobsOf(*own_.clients()) : std::vector<ClientJobs>{};
	const gossip::JobsTable::List *list = jobs_.clientsOf(serverId);
	const gossip::ServerTable::Entry *e = servers_.find(serverId);
	// Only of the run the server's samples are of: a restarted server's
	// old list is no news.
	if (!list || !e || e->sample.incarnation != list->incarnation)
		return {};
	return clientJobsOf(*list);
}

std::optional<std::uint32_t> Gossip::localJobs(std::uint64_t clientId) const
{
	if (clientId == config_.node)
		return own_.localJobs();
	const gossip::JobsTable::Local *l = jobs_.localOf(clientId);
	if (!l)
		return std::nullopt;
	return l->record.jobs;
}

std::optional<std::uint64_t> Gossip::nodeAt(std::string_view address) const
{
	return peers_.nodeAt(address);
}

} // namespace dmdns

// Gossip state machine: own news to every peer, trust rules on receipt, probes and push-pull.
#include "distcc-mdns/gossip.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace dmdns {

namespace {

using std::chrono::milliseconds;
using gossip::Verdict;

std::uint32_t ageMs(SteadyTime origin, SteadyTime now) noexcept
{
	const auto age = std::chrono::duration_cast<milliseconds>(now - origin).count();
	if (age <= 0)
		return 0;
	return static_cast<std::uint32_t>(std::min<long long>(age, wire::kMaxAgeMs));
}

// Counters stop short of the wire's bound instead of wrapping.
std::uint64_t bump(std::uint64_t &counter) noexcept
{
	if (counter + 1 < wire::kMaxCounter)
		++counter;
	return counter;
}

// Whether two samples of one server describe the same load: a sample that
// only advances the sequence is a heartbeat. The host's runnable count
// jitters by a task or two from one reading to the next; only a move by a
// quarter of its cpus (at least one task) is news.
bool sameLoad(const wire::Sample &a, const wire::Sample &b) noexcept
{
	const double jitter = std::max(1.0, a.cpus / 4.0);
	return gossip::sameCapacity(a, b) && a.running == b.running && std::abs(a.runnable - b.runnable) < jitter;
}

// What a Load record can carry of a runnable count.
double loadRunnable(double runnable) noexcept
{
	return std::min(std::round(runnable * 10.0) / 10.0, 6553.5);
}

// Brings what a caller measured into the bounds the wire accepts, so that
// one odd reading cannot make every datagram invalid.
void clampSample(wire::Sample &s)
{
	s.running = std::min<std::uint32_t>(s.running, 65535);
	s.slots = std::clamp<std::uint32_t>(s.slots, 1, kMaxSlots);
	s.cpus = std::clamp<std::uint32_t>(s.cpus, 1, kMaxCpus);
	if (!(s.runnable >= 0.0))
		s.runnable = 0.0;
	s.runnable = std::min(s.runnable, wire::kMaxRunnableMilli / 1000.0);
	if (!(s.speed >= kMinSpeed))
		s.speed = kMinSpeed;
	s.speed = std::min(s.speed, kMaxSpeed);
}

std::uint64_t subjectOf(const wire::Record &record) noexcept
{
	return std::visit(
		[](const auto &r) -> std::uint64_t {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, wire::Sample> || std::is_same_v<T, wire::Load>)
				return r.server;
			else if constexpr (std::is_same_v<T, wire::Leave>)
				return r.node;
			else if constexpr (std::is_same_v<T, wire::Reservation> || std::is_same_v<T, wire::Demand>)
				return r.client;
			else
				return 0;
		},
		record);
}

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
	  peers_(config_.maxPeers, config_.maxServers, config_.deadAfter),
	  servers_(config_.maxServers, config_.maxLeaves, config_.forgetAfter),
	  clients_(config_.maxDemands, config_.maxReservations, config_.demandTtl),
	  limiter_(config_.rateLimit, config_.rateBurst, config_.maxSources), replay_(config_.maxSources),
	  validator_([this] { return nextRandom(); }, config_.maxSources, config_.cookieLifetime),
	  jar_(config_.maxPeers)
{
	if (config_.node == 0)
		throw std::invalid_argument("gossip node id 0");
	if (config_.incarnation >= wire::kMaxCounter)
		throw std::invalid_argument("gossip incarnation absurd");
	if (config_.period <= milliseconds::zero() || config_.pushPullInterval <= milliseconds::zero())
		throw std::invalid_argument("gossip periods must be positive");
	if (config_.newsTransmits == 0 || config_.loadTransmits == 0)
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
	servers_.pin(servers);
}

void Gossip::vouch(std::map<std::uint64_t, std::set<std::string>> addresses)
{
	peers_.vouch(std::move(addresses));
}

// ---- own state

void Gossip::setOwnSample(wire::Sample sample, SteadyTime now)
{
	clampSample(sample);
	sample.server = config_.node;
	sample.incarnation = incarnation_;
	sample.sequence = sampleSequence_ + 1;
	sample.ageMs = 0;
	if (std::string why = wire::validate(sample); !why.empty())
		throw std::invalid_argument("own gossip sample: " + why);
	const bool heartbeat = ownSample_ && sameLoad(*ownSample_, sample);
	if (heartbeat && now - ownOrigin_ < config_.heartbeatInterval)
		return;
	sample.sequence = bump(sampleSequence_);
	if (ownSample_ && gossip::sameCapacity(*ownSample_, sample)) {
		// New load or a heartbeat: what a Load record can carry, once the
		// full Sample went out its number of times.
		if (heartbeat)
			sample.runnable = ownSample_->runnable;
		sample.runnable = loadRunnable(sample.runnable);
		const bool spread = ownCompact_ || ownTransmits_ == 0;
		ownSample_ = sample;
		ownOrigin_ = now;
		ownCompact_ = spread;
		ownTransmits_ = spread ? config_.loadTransmits : std::max(ownTransmits_, config_.loadTransmits);
		return;
	}
	ownSample_ = sample;
	ownOrigin_ = now;
	ownCompact_ = false;
	ownTransmits_ = config_.newsTransmits;
}

void Gossip::setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now)
{
	wanted = std::min(wanted, wire::kMaxWantedJobs);
	localSlots = std::min(localSlots, wire::kMaxLocalSlots);
	if (ownDemand_) {
		const auto &d = std::get<wire::Demand>(ownDemand_->record);
		// tick() renews an unchanged demand on its own schedule.
		if (d.wanted == wanted && d.localSlots == localSlots)
			return;
	}
	wire::Demand d{ config_.node, incarnation_, bump(sequence_), 0, wanted, localSlots };
	ownDemand_ = OwnEntry{ d, now, config_.newsTransmits };
}

void Gossip::reserve(std::uint64_t server, std::uint32_t count, SteadyTime now)
{
	if (server == 0)
		throw std::invalid_argument("reservation on server id 0");
	count = std::min(count, wire::kMaxReservedJobs);
	if (count == 0 && !ownReservations_.contains(server))
		return;
	if (!ownReservations_.contains(server) && ownReservations_.size() >= config_.maxReservations) {
		ownReservations_.erase(std::min_element(ownReservations_.begin(), ownReservations_.end(),
							[](const auto &a, const auto &b) {
								return a.second.origin < b.second.origin;
							}));
		++stats_.evicted;
	}
	const auto ttl = static_cast<std::uint32_t>(config_.reservationTtl.count());
	wire::Reservation r{ config_.node, server, count, ttl, 0, incarnation_, bump(sequence_) };
	ownReservations_[server] = OwnEntry{ r, now, config_.newsTransmits };
}

void Gossip::refute(const wire::Record &record, SteadyTime now)
{
	if (left_ || !ownSample_)
		return;
	// Only this node speaks for itself, and every peer believes its own
	// word over anything relayed: a LEAVE of this run, or a copy of its
	// sample newer than its own, counts only where a relay may speak (a
	// --peer or a key holder), and there it makes the peer ask this node.
	// Saying its own word again at once is refutation enough, for an equal
	// incarnation too; the run keeps its one incarnation (the TXT record
	// carries the same), and no claim makes a counter jump.
	if (const auto *sample = std::get_if<wire::Sample>(&record)) {
		if (*sample == *ownSample_)
			return;
	} else if (!std::holds_alternative<wire::Leave>(record)) {
		return;
	}
	ownSample_->sequence = bump(sampleSequence_);
	ownOrigin_ = now;
	ownCompact_ = false;
	ownTransmits_ = config_.newsTransmits;
}

// ---- receiving

std::vector<Datagram> Gossip::receive(const Endpoint &from, std::span<const std::uint8_t> datagram,
				      SteadyTime now)
{
	++stats_.received;
	stats_.bytesReceived += datagram.size();
	const wire::Decoded decoded = wire::decode(datagram);
	// With a key, the tag is checked before anything is spent on the
	// datagram: a forged source address must not use up its owner's budget.
	if (!decoded.packet) {
		++stats_.invalid;
		stats_.otherVersion += decoded.otherVersion;
		stats_.lastError = decoded.error;
		return {};
	}
	const wire::Packet &packet = *decoded.packet;
	Source source;
	source.from = from;
	source.sender = packet.header.sender;
	if (config_.verify) {
		if (!decoded.tagged || !config_.verify(datagram)) {
			++stats_.unauthenticated;
			return {};
		}
		if (packet.header.sender != config_.node &&
		    !replay_.accept(packet.header.sender, packet.header.incarnation, packet.header.sequence)) {
			++stats_.replayed;
			return {};
		}
		source.authenticated = true;
	}
	if (!limiter_.admit(from.address, now)) {
		++stats_.rateLimited;
		return {};
	}
	if (packet.header.sender == config_.node) {
		++stats_.looped;
		return {};
	}
	++stats_.accepted;
	stats_.unknownRecords += decoded.unknownRecords;

	gossip::Peer *peer = peers_.find(from);
	if (!peer)
		peer = peers_.learn(from);
	source.trustedRelay = source.authenticated || (peer && peer->pull && !peer->learnt);
	source.client = source.authenticated ? wire::formatNodeId(source.sender) : from.address;

	const bool isRequest = packet.header.flags & wire::kFlagPushPullRequest;
	bool validated = source.authenticated;
	std::set<std::uint64_t> probe;
	std::vector<Datagram> out;
	for (const wire::Record &record : packet.records) {
		if (const auto *cookie = std::get_if<wire::Cookie>(&record)) {
			// In a request, the echo of ours; elsewhere, its cookie for us.
			if (isRequest) {
				validated = validator_.check(from.address, cookie->value, now) || validated;
			} else if (jar_.find(from.address) != cookie->value) {
				jar_.remember(from.address, cookie->value, now);
				// The answer was a small one for lack of the cookie: ask
				// again with it at once.
				if (peer && !left_ && !(packet.header.flags & wire::kFlagFullState))
					for (Datagram &d : request(from, now))
						out.push_back(std::move(d));
			}
			continue;
		}
		merge(record, source, now, probe);
	}
	if (peer) {
		peer->heard = now;
		peer->node = packet.header.sender;
		peer->hellos = 0;
	}

	// Relayed claims that contradict a server's own word: ask the server.
	for (std::uint64_t id : probe) {
		if (auto it = probed_.find(id); it != probed_.end() && now - it->second < config_.probeInterval)
			continue;
		for (gossip::Peer &p : peers_.all()) {
			if (p.node != id || p.learnt)
				continue;
			probed_[id] = now;
			++stats_.probes;
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
			break;
		}
	}
	if (isRequest && peer && !left_)
		for (Datagram &d : answer(source, datagram.size(), *peer, validated || validator_.validated(from.address, now), now))
			out.push_back(std::move(d));
	count(out);
	return out;
}

void Gossip::merge(const wire::Record &record, const Source &source, SteadyTime now, std::set<std::uint64_t> &probe)
{
	const std::uint64_t subject = subjectOf(record);
	if (subject == config_.node) {
		refute(record, now);
		return;
	}
	if (std::holds_alternative<wire::Demand>(record) || std::holds_alternative<wire::Reservation>(record))
		mergeClient(record, subject, source, now);
	else
		mergeServer(record, subject, source, now, probe);
}

void Gossip::mergeServer(const wire::Record &record, std::uint64_t subject, const Source &source, SteadyTime now,
			 std::set<std::uint64_t> &probe)
{
	// A server's own word: its id is the sender's, from an address that
	// speaks for it (with a key, the tag vouches for the id).
	bool firstHand = subject == source.sender &&
			 (source.authenticated || peers_.speaksFor(subject, source.from.address, now));
	if (!firstHand && !source.trustedRelay) {
		++stats_.untrusted;
		return;
	}
	Verdict verdict;
	if (const auto *s = std::get_if<wire::Sample>(&record))
		verdict = servers_.sample(*s, firstHand, now);
	else if (const auto *l = std::get_if<wire::Load>(&record))
		verdict = servers_.load(*l, firstHand, now);
	else
		verdict = servers_.leave(std::get<wire::Leave>(record), firstHand, now);
	if (verdict == Verdict::Probe) {
		++stats_.contradicted;
		probe.insert(subject);
	} else if (verdict == Verdict::Missing) {
		// The server's own Load on a Sample this node lacks (new here, or
		// held from a forged copy of its address): ask the server for it.
		++stats_.orphanLoads;
		if (firstHand)
			probe.insert(subject);
	}
	if (firstHand && verdict == Verdict::Applied && std::holds_alternative<wire::Leave>(record))
		clients_.forget(source.client);
}

void Gossip::mergeClient(const wire::Record &record, std::uint64_t client, const Source &source, SteadyTime now)
{
	// Without a key a client speaks for itself only, counted by its
	// address; a key holder's relays count under the client's id.
	std::string key;
	if (client == source.sender)
		key = source.client;
	else if (source.trustedRelay)
		key = "relayed:" + wire::formatNodeId(client);
	else {
		++stats_.untrusted;
		return;
	}
	if (const auto *d = std::get_if<wire::Demand>(&record)) {
		if (!servers_.hasLeft(client, d->incarnation))
			clients_.demand(key, *d, now);
	} else {
		const auto &r = std::get<wire::Reservation>(record);
		if (!servers_.hasLeft(client, r.incarnation))
			clients_.reservation(key, r, now);
	}
}

// ---- sending

wire::Sample Gossip::ownSampleNow(SteadyTime now) const
{
	wire::Sample s = *ownSample_;
	s.ageMs = ageMs(ownOrigin_, now);
	return s;
}

std::vector<wire::Record> Gossip::ownState(SteadyTime now) const
{
	std::vector<wire::Record> out;
	if (ownSample_)
		out.push_back(ownSampleNow(now));
	if (ownDemand_) {
		wire::Demand d = std::get<wire::Demand>(ownDemand_->record);
		d.ageMs = ageMs(ownDemand_->origin, now);
		out.push_back(d);
	}
	for (const auto &[server, e] : ownReservations_) {
		wire::Reservation r = std::get<wire::Reservation>(e.record);
		if (r.count == 0)
			continue;
		r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
		out.push_back(r);
	}
	return out;
}

std::vector<wire::Record> Gossip::fullState(SteadyTime now) const
{
	std::vector<wire::Record> out = ownState(now);
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
	return out;
}

std::vector<std::uint8_t> Gossip::seal(std::vector<std::uint8_t> bytes)
{
	wire::stampSequence(bytes, bump(datagramSequence_));
	if (config_.sign) {
		const std::size_t body = bytes.size() - wire::kTagSize;
		config_.sign(std::span<const std::uint8_t>(bytes.data(), body),
			     std::span<std::uint8_t, wire::kTagSize>(bytes.data() + body, wire::kTagSize));
	}
	return bytes;
}

std::vector<std::vector<std::uint8_t>> Gossip::pack(const std::vector<wire::Record> &records, std::uint8_t flags,
						    const Endpoint *to)
{
	const std::uint8_t tagged = config_.sign ? wire::kFlagTagged : 0;
	const bool isRequest = flags & wire::kFlagPushPullRequest;
	std::vector<std::vector<std::uint8_t>> out;
	// A push-pull request rides on the first datagram only, so that the
	// peer answers once; it carries the cookie the peer handed us.
	wire::PacketWriter writer({ static_cast<std::uint8_t>(flags | tagged), config_.node, incarnation_, 0 },
				  config_.maxDatagram);
	wire::PacketWriter rest({ static_cast<std::uint8_t>((flags & ~wire::kFlagPushPullRequest) | tagged),
				  config_.node, incarnation_, 0 },
				config_.maxDatagram);
	if (isRequest && to)
		if (auto cookie = jar_.find(to->address))
			writer.add(wire::Cookie{ *cookie });
	wire::PacketWriter *w = &writer;
	for (const wire::Record &record : records) {
		if (w->add(record))
			continue;
		if (w == &writer && isRequest)
			writer.padTo(config_.minRequest);
		out.push_back(seal(w->finish()));
		w = &rest;
		w->add(record); // always fits an empty datagram: checked in the constructor
	}
	if (w == &writer && isRequest)
		writer.padTo(config_.minRequest);
	if (!w->empty() || (out.empty() && isRequest))
		out.push_back(seal(w->finish()));
	return out;
}

std::vector<Datagram> Gossip::request(const Endpoint &to, SteadyTime now)
{
	std::vector<Datagram> out;
	for (auto &bytes : pack(ownState(now), wire::kFlagPushPullRequest, &to))
		out.push_back({ to, std::move(bytes) });
	return out;
}

std::vector<Datagram> Gossip::answer(const Source &source, std::size_t requestBytes, gossip::Peer &peer,
				     bool validated, SteadyTime now)
{
	std::vector<Datagram> out;
	// The answer may be a probe's: it carries a sequence newer than the
	// last heartbeat, which is what tells the asker that this node's own
	// stream goes on (at most one a 50 ms, the pace receivers allow).
	if (ownSample_ && now - ownOrigin_ >= gossip::ServerTable::kMinSampleMs) {
		ownSample_->sequence = bump(sampleSequence_);
		ownOrigin_ = now;
	}
	if (!validated) {
		// Not proved to receive at its address: at most kAmplification
		// times the request's bytes, a cookie first, then our own sample
		// if it fits. The requester echoes the cookie and gets the rest.
		const std::size_t budget = std::min(config_.maxDatagram, gossip::kAmplification * requestBytes);
		if (budget < wire::kHeaderSize + (config_.sign ? wire::kTagSize : 0) + 2 + wire::kCookieSize)
			return out;
		wire::PacketWriter w({ static_cast<std::uint8_t>(config_.sign ? wire::kFlagTagged : 0), config_.node,
				       incarnation_, 0 },
				     budget);
		w.add(wire::Cookie{ validator_.cookieFor(source.from.address, now) });
		if (ownSample_)
			w.add(ownSampleNow(now));
		out.push_back({ source.from, seal(w.finish()) });
		++stats_.cookieAnswers;
		return out;
	}
	// Once per half interval, since a request may arrive over several paths.
	if (peer.replied && now - *peer.replied < config_.pushPullInterval / 2) {
		// Still answer with our own word: it may be a probe.
		for (auto &bytes : pack(ownState(now), 0))
			out.push_back({ source.from, std::move(bytes) });
		return out;
	}
	peer.replied = now;
	std::vector<wire::Record> records = fullState(now);
	records.insert(records.begin(), wire::Cookie{ validator_.cookieFor(source.from.address, now) });
	for (auto &bytes : pack(records, wire::kFlagFullState))
		out.push_back({ source.from, std::move(bytes) });
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
	servers_.expire(now);
	clients_.expire(now);
	auto over = [&](const auto &kv) {
		const auto &r = std::get<wire::Reservation>(kv.second.record);
		return kv.second.origin + milliseconds(r.ttlMs) <= now;
	};
	std::erase_if(ownReservations_, over);
	peers_.expire(now, config_.forgetAfter);
	limiter_.expire(now);
	validator_.expire(now);
	std::erase_if(probed_, [&](const auto &kv) { return now - kv.second > config_.forgetAfter; });
	stats_.evicted = servers_.evicted() + clients_.evicted() + peers_.evicted() + limiter_.evicted();
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
	if (ownDemand_) {
		auto &d = std::get<wire::Demand>(ownDemand_->record);
		if (d.wanted > 0 && now - ownDemand_->origin >= config_.demandRefresh) {
			d.sequence = bump(sequence_);
			d.incarnation = incarnation_;
			ownDemand_->origin = now;
			ownDemand_->transmits = std::max(ownDemand_->transmits, 1u);
		}
	}

	std::vector<Datagram> out;
	const auto heard = [&](const gossip::Peer &p) {
		return p.heard && now - *p.heard <= config_.forgetAfter;
	};
	if (now >= nextRound_) {
		nextRound_ += config_.period;
		if (nextRound_ <= now)
			nextRound_ = now + config_.period;
		// Own news only, first hand, to every peer the caller gave that
		// answers: each learns of this node from this node.
		std::vector<wire::Record> news;
		if (ownSample_ && ownTransmits_) {
			--ownTransmits_;
			if (ownCompact_ && ageMs(ownOrigin_, now) <= wire::kMaxLoadAgeMs &&
			    sampleSequence_ <= UINT32_MAX)
				news.push_back(wire::Load{ config_.node, static_cast<std::uint16_t>(incarnation_ & 0xffff),
							   static_cast<std::uint32_t>(ownSample_->sequence),
							   ageMs(ownOrigin_, now), ownSample_->running,
							   ownSample_->runnable });
			else
				news.push_back(ownSampleNow(now));
		}
		if (ownDemand_ && ownDemand_->transmits) {
			--ownDemand_->transmits;
			wire::Demand d = std::get<wire::Demand>(ownDemand_->record);
			d.ageMs = ageMs(ownDemand_->origin, now);
			news.push_back(d);
		}
		for (auto &[server, e] : ownReservations_) {
			if (!e.transmits)
				continue;
			--e.transmits;
			wire::Reservation r = std::get<wire::Reservation>(e.record);
			r.ageMs = std::min(ageMs(e.origin, now), r.ttlMs);
			news.push_back(r);
		}
		if (!news.empty()) {
			const std::vector<std::vector<std::uint8_t>> datagrams = pack(news, 0);
			for (const gossip::Peer &p : peers_.all())
				if (!p.learnt && heard(p))
					for (const auto &bytes : datagrams)
						out.push_back({ p.endpoint, bytes });
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
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
			continue;
		}
		// A suspect that is also a peer is asked directly (as SWIM probes):
		// alive, it answers with its own fresh sample; crashed, it stays silent.
		if (p.node != 0 && liveness(p.node, now) == Liveness::Suspect &&
		    (!p.probed || now - *p.probed >= config_.suspectAfter)) {
			p.probed = now;
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
			continue;
		}
		// Peers that may not know us (--peer) are asked for their news once a
		// heartbeat interval: they answer even if they never write first.
		if (p.pull && (!p.pulled || now - *p.pulled >= config_.heartbeatInterval)) {
			p.pulled = now;
			for (Datagram &d : request(p.endpoint, now))
				out.push_back(std::move(d));
		}
	}

	// Anti-entropy: one random peer that answers is asked for its state.
	if (now >= nextPushPull_) {
		nextPushPull_ = now + config_.pushPullInterval;
		std::vector<const gossip::Peer *> ready;
		for (const gossip::Peer &p : peers_.all())
			if (!p.learnt && heard(p))
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
	for (const auto &bytes : pack({ wire::Leave{ config_.node, incarnation_ } }, 0))
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
		if (!ownSample_)
			return std::nullopt;
		out.sample = *ownSample_;
		origin = ownOrigin_;
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
		return !ownSample_ ? Liveness::Unknown : left_ ? Liveness::Left : Liveness::Alive;
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

std::uint64_t Gossip::capacity() const
{
	// The listed servers' slots, or every known one's while none is listed.
	std::uint64_t listed = ownSample_ ? ownSample_->slots : 0, all = listed;
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
	const std::uint64_t capacity = this->capacity();
	std::optional<SteadyTime> sampled;
	if (server == config_.node && ownSample_)
		sampled = ownOrigin_;
	else if (const gossip::ServerTable::Entry *e = servers_.find(server))
		sampled = e->origin;
	return clients_.reservedOn(server, sampled, config_.reservationCoverAfter, now, capacity);
}

std::vector<std::uint32_t> Gossip::demands(SteadyTime now) const
{
	return clients_.wants(now, capacity());
}

DemandSummary Gossip::demand(SteadyTime now, bool includeOwn) const
{
	const std::uint64_t capacity = this->capacity();
	DemandSummary sum = clients_.summary(now, capacity);
	if (includeOwn && ownDemand_ && !left_) {
		const auto &d = std::get<wire::Demand>(ownDemand_->record);
		if (d.wanted > 0) {
			sum.wanted += gossip::capped(d, capacity);
			sum.localSlots += d.localSlots;
			++sum.clients;
		}
	}
	return sum;
}

} // namespace dmdns

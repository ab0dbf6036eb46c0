// Gossip's receiving half: checks on every datagram, the trust rules for each record, probes and answers.
#include "distcc-mdns/gossip.h"

#include <algorithm>

namespace dmdns {

namespace {

using gossip::Verdict;

std::uint64_t subjectOf(const wire::Record &record) noexcept
{
	return std::visit(
		[](const auto &r) -> std::uint64_t {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, wire::Sample> || std::is_same_v<T, wire::Load> ||
				      std::is_same_v<T, wire::Profile>)
				return r.server;
			else if constexpr (std::is_same_v<T, wire::Leave>)
				return r.node;
			else if constexpr (std::is_same_v<T, wire::Reservation> || std::is_same_v<T, wire::Demand> ||
					   std::is_same_v<T, wire::Speed> || std::is_same_v<T, wire::LocalJobs>)
				return r.client;
			else if constexpr (std::is_same_v<T, wire::Clients> || std::is_same_v<T, wire::Where>)
				return r.server;
			else
				return 0;
		},
		record);
}

// FNV-1a over the WHEREs' fields: tells a changed set from the last one
// an asker got (no security rests on it: a collision delays a WHERE by
// whereRefresh at most).
std::uint64_t digestOf(const std::vector<wire::Record> &where) noexcept
{
	std::uint64_t digest = 14695981039346656037ull;
	auto mix = [&](std::uint64_t v, int bytes) {
		for (int i = 0; i < bytes; ++i, v >>= 8)
			digest = (digest ^ (v & 0xff)) * 1099511628211ull;
	};
	for (const wire::Record &record : where)
		if (const auto *w = std::get_if<wire::Where>(&record)) {
			mix(w->server, 8);
			mix(w->incarnation, 8);
			mix(w->port, 2);
			for (std::uint8_t b : w->address)
				mix(b, 1);
		}
	return digest;
}

} // namespace

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
	source.incarnation = packet.header.incarnation;
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
	// A WHERE may have added peers, and the table may have moved or
	// dropped this one to make room.
	peer = peers_.find(from);
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
		if (!left_)
			own_.refute(record, now);
		return;
	}
	if (const auto *speed = std::get_if<wire::Speed>(&record))
		mergeSpeed(*speed, source, now);
	else if (const auto *where = std::get_if<wire::Where>(&record))
		mergeWhere(*where, source, now);
	else if (std::holds_alternative<wire::Clients>(record) || std::holds_alternative<wire::LocalJobs>(record))
		mergeJobs(record, subject, source, now);
	else if (std::holds_alternative<wire::Demand>(record) || std::holds_alternative<wire::Reservation>(record))
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
	if (const auto *p = std::get_if<wire::Profile>(&record)) {
		// Which TXT clients believe: the server's own word only, never a
		// relay's, not even a key holder's.
		if (servers_.profile(*p, firstHand) == Verdict::Refused)
			++stats_.untrusted;
		return;
	}
	if (!firstHand && !source.trustedRelay) {
		++stats_.untrusted;
		return;
	}
	Verdict verdict;
	if (const auto *s = std::get_if<wire::Sample>(&record))
		verdict = servers_.sample(*s, firstHand, now);
	else if (const auto *l = std::get_if<wire::Load>(&record))
		verdict = servers_.load(*l, firstHand, source.incarnation, now);
	else
		verdict = servers_.leave(std::get<wire::Leave>(record), firstHand, now);
	// What the server ran when: how much of a core a job there had.
	if (verdict == Verdict::Applied && config_.learnSpeed && !std::holds_alternative<wire::Leave>(record))
		if (const gossip::ServerTable::Entry *e = servers_.find(subject))
			speeds_.contention(subject, e->origin, e->sample);
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
	if (firstHand && verdict == Verdict::Applied && std::holds_alternative<wire::Leave>(record)) {
		clients_.forget(source.client);
		jobs_.forget(subject, std::get<wire::Leave>(record).incarnation);
	}
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

void Gossip::mergeSpeed(const wire::Speed &speed, const Source &source, SteadyTime now)
{
	// Only a client speaks of its own jobs, and nobody relays them: one
	// source per address without a key (whatever ids it invents), per
	// key holder with one. (A server's word on its own speed is its
	// sample: the decoder refuses a report on the client itself.)
	if (!config_.learnSpeed)
		return;
	if (speed.client != source.sender) {
		++stats_.untrusted;
		return;
	}
	if (servers_.hasLeft(speed.client, speed.incarnation))
		return;
	if (speeds_.report(source.client, speed, now) == gossip::Verdict::Applied)
		speedDirty_ = true;
}

void Gossip::mergeJobs(const wire::Record &record, std::uint64_t subject, const Source &source, SteadyTime now)
{
	// Who runs jobs on a server only the server says, and a client's local
	// jobs only the client: first hand as a server's sample (its id, from
	// an address that speaks for it; with a key, the tag vouches), or
	// relayed by a trusted relay under the rules of JobsTable.
	const bool firstHand = subject == source.sender &&
			       (source.authenticated || peers_.speaksFor(subject, source.from.address, now));
	if (!firstHand && !source.trustedRelay) {
		++stats_.untrusted;
		return;
	}
	gossip::Verdict verdict;
	if (const auto *c = std::get_if<wire::Clients>(&record)) {
		if (servers_.hasLeft(subject, c->incarnation))
			return;
		// Lists of servers without a sample here are no use (nobody shows
		// them) and would crowd the table: push-pull brings them again.
		const gossip::ServerTable::Entry *e = servers_.find(subject);
		if (!e)
			return;
		// The run the server's own samples speak for; none heard first
		// hand yet, the run of the (relayed) sample held, as for samples.
		const std::uint64_t run = e->anchored ? e->anchorIncarnation : e->sample.incarnation;
		verdict = jobs_.clients(*c, firstHand, run, now);
	} else {
		const auto &l = std::get<wire::LocalJobs>(record);
		if (servers_.hasLeft(subject, l.incarnation))
			return;
		verdict = jobs_.localJobs(l, firstHand, now);
	}
	if (verdict == gossip::Verdict::Refused)
		++stats_.untrusted;
}

bool Gossip::addRelayedPeer(const Endpoint &at)
{
	// At the cost of a learnt peer at most (one that wrote to us first,
	// which a flood of strangers may be), never of one the caller gave: a
	// table full of those leaves the server unasked, dropped unheard.
	// A server that wrote to us first (it heard of us by a WHERE too)
	// becomes ours to ask.
	if (gossip::Peer *known = peers_.find(at)) {
		if (!known->learnt)
			return false; // the caller's
		known->learnt = false;
		known->relayed = true;
		return true;
	}
	const std::vector<gossip::Peer> &all = peers_.all();
	if (all.size() >= config_.maxPeers &&
	    std::none_of(all.begin(), all.end(), [](const gossip::Peer &p) { return p.learnt; }))
		return false;
	peers_.add(at, false);
	if (gossip::Peer *p = peers_.find(at))
		p->relayed = true;
	return true;
}

void Gossip::dropRelayedPeer(const Relayed &r)
{
	if (const gossip::Peer *p = peers_.find(r.at); r.ownsPeer && p && p->relayed)
		peers_.remove(r.at);
}

void Gossip::mergeWhere(const wire::Where &where, const Source &source, SteadyTime now)
{
	// Where a server is only a trusted relay says: anyone else could send
	// this node's requests (and the server's answers) anywhere.
	if (!source.trustedRelay) {
		++stats_.untrusted;
		return;
	}
	if (servers_.hasLeft(where.server, where.incarnation))
		return;
	const Endpoint at{ wire::addressText(where.address), where.port };
	if (auto it = relayed_.find(where.server); it != relayed_.end()) {
		Relayed &r = it->second;
		// Another place only for a newer run: the relays of one run agree.
		if (where.incarnation < r.incarnation || (where.incarnation == r.incarnation && r.at != at))
			return;
		r.named = now;
		r.incarnation = where.incarnation;
		if (r.at != at) {
			dropRelayedPeer(r);
			r.at = at;
			r.ownsPeer = addRelayedPeer(at);
		}
		return;
	}
	// A server this node gossips with already (mDNS, a --peer) needs no
	// second endpoint: it would only split its word over two addresses.
	// One that merely wrote to us first is not one we ask: a learnt peer
	// gets nothing unasked, and is forgotten when it falls silent.
	for (const gossip::Peer &p : peers_.all())
		if (p.node == where.server && !p.learnt)
			return;
	if (relayed_.size() >= config_.maxServers) {
		// Room only at the cost of one that gossip does not hear now.
		auto stale = std::find_if(relayed_.begin(), relayed_.end(), [&](const auto &kv) {
			const Liveness l = liveness(kv.first, now);
			return l != Liveness::Alive && l != Liveness::Suspect;
		});
		++relayEvicted_;
		if (stale == relayed_.end())
			return;
		dropRelayedPeer(stale->second);
		relayed_.erase(stale);
	}
	relayed_[where.server] = Relayed{ at, where.incarnation, now, addRelayedPeer(at) };
	repin();
}

std::vector<Datagram> Gossip::answer(const Source &source, std::size_t requestBytes, gossip::Peer &peer,
				     bool validated, SteadyTime now)
{
	std::vector<Datagram> out;
	// The answer may be a probe's: it carries a sequence newer than the
	// last heartbeat, which is what tells the asker that this node's own
	// stream goes on.
	own_.restamp(now);
	if (!validated) {
		// Not proved to receive at its address: at most kAmplification
		// times the request's bytes, a cookie first, then our own sample
		// if it fits. The requester echoes the cookie and gets the rest.
		const std::size_t budget = std::min(config_.maxDatagram, gossip::kAmplification * requestBytes);
		if (budget < wire::kHeaderSize + (packer_.tagged() ? wire::kTagSize : 0) + 2 + wire::kCookieSize)
			return out;
		std::vector<wire::Record> records{ wire::Cookie{ validator_.cookieFor(source.from.address, now) } };
		if (const std::optional<wire::Sample> sample = own_.sampleAt(now))
			records.push_back(*sample);
		if (const std::optional<wire::Profile> profile = own_.profile())
			records.push_back(*profile);
		out.push_back({ source.from, *packer_.packWithin(records, budget) });
		++stats_.cookieAnswers;
		return out;
	}
	// Others' records only where the asker believes them: with a key, or
	// for a peer that found us itself (a --peer, or one mDNS does not
	// show us); one we found ourselves hears every server first hand. And
	// once per half interval, since a request may arrive over several paths.
	if ((!config_.verify && !peer.learnt && !peer.pull) ||
	    (peer.replied && now - *peer.replied < config_.pushPullInterval / 2)) {
		// Still answer with our own word: it may be a probe.
		for (auto &bytes : packer_.pack(own_.state(now, false), 0))
			out.push_back({ source.from, std::move(bytes) });
		return out;
	}
	peer.replied = now;
	// The own client list once per list and asker: its news went to every
	// peer already, and the answers are what it costs most in.
	const std::uint64_t list = own_.clientsSequence();
	std::vector<wire::Record> records = fullState(now, peer.listAnswered != list);
	peer.listAnswered = list;
	// Where the servers this node hears are, once per change and asker
	// (and again after whereRefresh): an asker on this link hears them by
	// mDNS, one elsewhere keeps them while it hears them itself.
	std::vector<wire::Record> where = whereRecords(now);
	const std::uint64_t digest = digestOf(where);
	if (!where.empty() &&
	    (digest != peer.whereAnswered || !peer.whereAt || now - *peer.whereAt >= config_.whereRefresh)) {
		records.insert(records.end(), where.begin(), where.end());
		peer.whereAnswered = digest;
		peer.whereAt = now;
	}
	records.insert(records.begin(), wire::Cookie{ validator_.cookieFor(source.from.address, now) });
	for (auto &bytes : packer_.pack(records, wire::kFlagFullState))
		out.push_back({ source.from, std::move(bytes) });
	return out;
}

} // namespace dmdns

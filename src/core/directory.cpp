// The servers a resolver knows, merged from every interface and protocol they were seen on.
#include "distcc-mdns/directory.h"

#include <algorithm>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "distcc-mdns/txt_digest.h"

namespace dmdns {

namespace {

// mDNS host names are case-insensitive (RFC 6762 §16).
std::string foldCase(std::string_view text)
{
	std::string out(text);
	for (char &c : out)
		if (c >= 'A' && c <= 'Z')
			c = static_cast<char>(c - 'A' + 'a');
	return out;
}

} // namespace

std::string sameHostKey(std::string_view hostName, std::uint16_t port)
{
	return fmt::format("{}:{}", foldCase(hostName), port);
}

std::vector<Address> usableAddresses(const Server &server, std::span<const Network> local)
{
	std::vector<Address> out;
	for (const Address &a : server.addresses) {
		if (a.family == Address::Family::IPv6 && a.isLinkLocal() && a.scope == 0)
			continue; // which interface? distcc could not connect
		if (!server.listensOn(a))
			continue;
		// The client's own addresses on @a's link are the ones distccd
		// will see as the peer; off-link, the route decides: unknown.
		bool onLink = false, admitted = false;
		for (const Network &n : local) {
			if (n.address.family != a.family || !n.contains(a))
				continue;
			onLink = true;
			admitted = admitted || server.admits(n.address);
		}
		if (onLink && !admitted)
			continue;
		out.push_back(a);
	}
	return out;
}

bool Directory::vouched(const Record &record, SteadyTime now) const
{
	return vouch_ && record.decoded.ours && !record.decoded.server.id.empty() &&
	       vouch_(record.decoded.server.id, now);
}

std::optional<std::uint64_t> Directory::gossipedDigest(const Record &record) const
{
	if (!profile_ || !record.decoded.ours || record.decoded.server.id.empty())
		return std::nullopt;
	return profile_(record.decoded.server.id);
}

bool Directory::pendingWins(const Record &record, SteadyTime now) const
{
	return record.pending && (!vouched(record, now) || gossipedDigest(record) == record.pending->digest);
}

Directory::Outcome Directory::resolved(const ResolvedInstance &instance, SteadyTime now)
{
	if (instance.port == 0)
		return Outcome::Refused;
	const RecordKey key{ instance.key.name, instance.key.domain };
	auto it = records_.find(key);
	if (it != records_.end() && pendingWins(it->second, now)) {
		// The gossip confirmed the TXT kept aside, or let go of the
		// server: that TXT is the record's before this one is judged.
		Record &record = it->second;
		record.decoded = std::move(record.pending->decoded);
		record.txt = std::move(record.pending->txt);
		record.txtAt = record.pending->at;
		record.pending.reset();
	}
	if (it == records_.end() && records_.size() >= kMaxServers && forgetUnvouched(now) == 0)
		return Outcome::Refused;

	const bool sameTxt = it != records_.end() && instance.txt == it->second.txt;
	TxtDecoded decoded = sameTxt ? TxtDecoded{} : decodeTxt(instance.txt);
	if (!sameTxt && !decoded.usable) {
		if (it == records_.end())
			return Outcome::Refused;
		// The name now says something we cannot use; unless the server
		// itself still speaks by gossip, that is the server's word.
		if (vouched(it->second, now))
			return Outcome::Contested;
		records_.erase(it);
		return Outcome::Refused;
	}
	if (it != records_.end()) {
		const Record &old = it->second;
		const bool otherAdvertiser = !sameTxt && (decoded.ours != old.decoded.ours ||
							  decoded.server.id != old.decoded.server.id);
		if (otherAdvertiser || instance.hostName != old.hostName) {
			// Anyone may send a TXT or SRV for any name: while gossip
			// hears the id we know first-hand, the name stays its.
			if (vouched(old, now))
				return Outcome::Contested;
			records_.erase(it);
			return Outcome::IdentityChanged;
		}
	}
	if (it != records_.end() && !sameTxt) {
		// Same id, same host, other content: only what the server's own
		// PROFILE confirms, while gossip hears it.
		Record &record = it->second;
		const std::optional<std::uint64_t> digest = gossipedDigest(record);
		if (digest && vouched(record, now)) {
			const std::uint64_t received = txtProfileDigest(instance.txt);
			if (received != *digest) {
				record.pending = Pending{ instance.txt, std::move(decoded), received, now };
				return Outcome::Contested;
			}
		}
	}
	if (it == records_.end() && decoded.ours && !decoded.server.id.empty()) {
		// A new name claiming the id of a server gossip vouches for, say
		// a forger's own instance at its own address: refused, since the
		// overlay would give it that server's samples. Only the same host
		// may advertise the id again under a new name (Avahi renamed it
		// after a conflict), and then it replaces the holder: one daemon
		// publishes one instance. The old name may belong to another
		// server by now, which a kept-open resolver reports mixed with
		// the old records for a while; the caller resolves it afresh.
		for (auto holder = records_.begin(); holder != records_.end(); ++holder) {
			const Record &h = holder->second;
			if (!h.decoded.ours || h.decoded.server.id != decoded.server.id || !vouched(h, now))
				continue;
			if (h.hostName != instance.hostName)
				return Outcome::Contested;
			if (!h.withdrawn)
				released_.push_back(holder->first);
			records_.erase(holder);
			break;
		}
	}
	if (it == records_.end())
		it = records_.emplace(key, Record{}).first;
	Record &record = it->second;
	if (!sameTxt) {
		record.decoded = std::move(decoded);
		record.txt = instance.txt;
		record.txtAt = now;
		record.pending.reset(); // superseded
	}
	if (record.withdrawn) {
		// Announced again: the fresh sightings replace the last known one.
		record.sightings.clear();
		record.withdrawn = false;
	}
	record.hostName = instance.hostName;
	record.local = instance.local;
	record.sightings[instance.key] = Sighting{ instance.address, instance.port };
	return Outcome::Accepted;
}

Directory::Removal Directory::removed(const InstanceKey &key, SteadyTime now)
{
	auto it = records_.find({ key.name, key.domain });
	if (it == records_.end())
		return Removal::Kept;
	Record &record = it->second;
	auto sighting = record.sightings.find(key);
	if (record.withdrawn || sighting == record.sightings.end() || sighting->second.gone)
		return Removal::Kept;
	// A goodbye costs nothing to forge: it removes a server only when
	// gossip does not hear the server say otherwise.
	if (vouched(record, now)) {
		sighting->second.gone = true;
		if (std::any_of(record.sightings.begin(), record.sightings.end(),
				[](const auto &s) { return !s.second.gone; }))
			return Removal::Kept;
		record.withdrawn = true;
		record.withdrawnAt = now;
		return Removal::Withdrawn;
	}
	record.sightings.erase(sighting);
	std::erase_if(record.sightings, [](const auto &s) { return s.second.gone; });
	if (!record.sightings.empty())
		return Removal::Kept;
	records_.erase(it);
	return Removal::Gone;
}

std::vector<std::pair<std::string, std::string>> Directory::takeReleased()
{
	return std::exchange(released_, {});
}

std::size_t Directory::forgetUnvouched(SteadyTime now)
{
	return std::erase_if(records_, [&](const auto &item) {
		return item.second.withdrawn && !vouched(item.second, now);
	});
}

std::vector<DirectoryEntry> Directory::snapshot(SteadyTime now) const
{
	std::vector<DirectoryEntry> out;
	out.reserve(records_.size());
	// The hosts our records stand for, listed or dead (see
	// hidesStockRecords): their stock records are left out below.
	std::set<std::string, std::less<>> ours;
	for (const auto &[key, record] : records_) {
		if (record.decoded.ours && !record.hostName.empty() && !record.sightings.empty() &&
		    (!record.withdrawn || now - record.withdrawnAt < kDeadHostHidden || vouched(record, now)))
			ours.insert(sameHostKey(record.hostName, record.sightings.begin()->second.port));
		if (record.withdrawn && !vouched(record, now))
			continue;
		DirectoryEntry entry;
		entry.name = key.first;
		entry.hostName = record.hostName;
		entry.stock = !record.decoded.ours;
		entry.local = record.local;
		entry.withdrawn = record.withdrawn;
		// A pending TXT the gossip now confirms is shown at once, not
		// only at the record's next mDNS event.
		const bool pending = pendingWins(record, now);
		const TxtDecoded &decoded = pending ? record.pending->decoded : record.decoded;
		entry.problems = decoded.problems;
		entry.server = decoded.server;
		Server &server = entry.server;
		if (server.id.empty())
			server.id = key.first;
		const bool vouchedNow = vouched(record, now);
		for (const auto &[_, sighting] : record.sightings) {
			if (sighting.gone && !vouchedNow)
				continue;
			if (sighting.port)
				server.port = sighting.port;
			if (sighting.address &&
			    std::find(server.addresses.begin(), server.addresses.end(), *sighting.address) ==
				    server.addresses.end())
				server.addresses.push_back(*sighting.address);
		}
		server.addresses = usableAddresses(server, local_);
		if (server.sample)
			server.sample->age = std::chrono::duration_cast<std::chrono::milliseconds>(
				now - (pending ? record.pending->at : record.txtAt));
		out.push_back(std::move(entry));
	}
	std::erase_if(out, [&](const DirectoryEntry &e) {
		return e.stock && !e.hostName.empty() && ours.contains(sameHostKey(e.hostName, e.server.port));
	});
	return out;
}

} // namespace dmdns

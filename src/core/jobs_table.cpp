// What this node believes of who runs jobs where: servers' client lists and clients' local jobs.
#include "distcc-mdns/gossip/jobs_table.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

JobsTable::JobsTable(std::size_t maxServers, std::size_t maxClients, std::chrono::milliseconds forgetAfter)
	: maxServers_(maxServers), maxClients_(maxClients), forgetAfter_(forgetAfter)
{
	if (maxServers == 0 || maxClients == 0)
		throw std::invalid_argument("jobs table needs room");
}

Verdict JobsTable::clients(const wire::Clients &c, bool firstHand, std::uint64_t run, SteadyTime now)
{
	// A relay may only repeat what the server said in the run it speaks
	// for now: a list of another run cannot be checked against anything.
	if (!firstHand && c.incarnation != run)
		return Verdict::Refused;
	auto it = servers_.find(c.server);
	if (it == servers_.end()) {
		if (servers_.size() >= maxServers_) {
			auto oldest = std::min_element(servers_.begin(), servers_.end(), [](const auto &a, const auto &b) {
				return a.second.heard < b.second.heard;
			});
			servers_.erase(oldest);
			++evicted_;
		}
		it = servers_.emplace(c.server, Server{}).first;
	}
	Server &s = it->second;
	const Key key{ c.incarnation, c.sequence };
	// Judged against the server's own last word when first hand (so that
	// no relayed copy can hold it back), else against what is held.
	const std::optional<Key> against = firstHand ? s.anchor
					   : s.held  ? std::optional(Key{ s.held->incarnation, s.held->sequence })
						     : std::nullopt;
	if (against && key <= *against) {
		if (s.held && key == Key{ s.held->incarnation, s.held->sequence })
			s.heard = now;
		return Verdict::Stale;
	}
	// A newer list in the making wins, unless it is only relayed and this
	// is the server's own word.
	if (s.pending && !(firstHand && !s.pending->firstHand) &&
	    (s.pending->key > key || (s.pending->key == key && s.pending->parts != c.parts)))
		return Verdict::Stale;
	if (s.pending && s.pending->key == key && s.pending->parts != c.parts)
		s.pending.reset();
	if (!s.pending || s.pending->key != key) {
		s.pending = Pending{ key, firstHand, c.parts, 0, std::vector<wire::Clients>(c.parts) };
	}
	Pending &p = *s.pending;
	// A first-hand part makes the whole first hand only with every part
	// first hand: a relayed part mixed in is a relayed list.
	p.firstHand = p.have == 0 ? firstHand : p.firstHand && firstHand;
	p.got[c.part] = c;
	p.have |= static_cast<std::uint8_t>(1u << c.part);
	s.heard = now;
	if (p.have != (1u << p.parts) - 1)
		return Verdict::Applied; // held until the rest comes
	return complete(s);
}

Verdict JobsTable::complete(Server &s)
{
	Pending p = std::move(*s.pending);
	s.pending.reset();
	List list{ p.key.incarnation, p.key.sequence, {}, p.got.front().others };
	for (const wire::Clients &part : p.got)
		for (const wire::ClientEntry &e : part.entries) {
			// The decoder checked each part alone; across parts too.
			if (std::any_of(list.entries.begin(), list.entries.end(),
					[&](const wire::ClientEntry &x) { return x.address == e.address; }))
				return Verdict::Refused;
			list.entries.push_back(e);
		}
	if (list.entries.size() > wire::kMaxClientEntries)
		return Verdict::Refused;
	s.held = std::move(list);
	if (p.firstHand)
		s.anchor = p.key;
	return Verdict::Applied;
}

Verdict JobsTable::localJobs(const wire::LocalJobs &l, bool firstHand, SteadyTime now)
{
	const Key key{ l.incarnation, l.sequence };
	auto it = locals_.find(l.client);
	const auto anchor = localAnchors_.find(l.client);
	std::optional<Key> against;
	if (firstHand) {
		if (anchor != localAnchors_.end())
			against = anchor->second;
	} else if (it != locals_.end()) {
		against = Key{ it->second.record.incarnation, it->second.record.sequence };
	}
	if (against && key <= *against) {
		if (it != locals_.end() && key == Key{ it->second.record.incarnation, it->second.record.sequence })
			it->second.heard = now;
		return Verdict::Stale;
	}
	if (it == locals_.end() && locals_.size() >= maxClients_) {
		auto oldest = std::min_element(locals_.begin(), locals_.end(),
					       [](const auto &a, const auto &b) { return a.second.heard < b.second.heard; });
		localAnchors_.erase(oldest->first);
		locals_.erase(oldest);
		++evicted_;
	}
	locals_[l.client] = Local{ l, now };
	if (firstHand)
		localAnchors_[l.client] = key;
	return Verdict::Applied;
}

const JobsTable::List *JobsTable::clientsOf(std::uint64_t server) const
{
	auto it = servers_.find(server);
	return it == servers_.end() || !it->second.held ? nullptr : &*it->second.held;
}

const JobsTable::Local *JobsTable::localOf(std::uint64_t client) const
{
	auto it = locals_.find(client);
	return it == locals_.end() ? nullptr : &it->second;
}

void JobsTable::forget(std::uint64_t node, std::uint64_t incarnation)
{
	if (auto it = servers_.find(node); it != servers_.end()) {
		Server &s = it->second;
		if (s.held && s.held->incarnation <= incarnation)
			s.held.reset();
		if (s.pending && s.pending->key.incarnation <= incarnation)
			s.pending.reset();
		if (!s.held && !s.pending)
			servers_.erase(it);
	}
	if (auto it = locals_.find(node); it != locals_.end() && it->second.record.incarnation <= incarnation)
		locals_.erase(it);
}

void JobsTable::expire(SteadyTime now, const std::function<bool(std::uint64_t server)> &known)
{
	std::erase_if(servers_, [&](const auto &kv) { return !known(kv.first); });
	std::erase_if(locals_, [&](const auto &kv) { return now - kv.second.heard >= forgetAfter_; });
	std::erase_if(localAnchors_, [&](const auto &kv) { return !locals_.contains(kv.first); });
}

std::vector<std::uint64_t> JobsTable::listed() const
{
	std::vector<std::uint64_t> out;
	for (const auto &[id, s] : servers_)
		if (s.held)
			out.push_back(id);
	return out;
}

std::vector<wire::Clients> JobsTable::parts(std::uint64_t server, const List &list)
{
	const std::size_t count = std::max<std::size_t>(
		1, (list.entries.size() + wire::kClientsPerRecord - 1) / wire::kClientsPerRecord);
	std::vector<wire::Clients> out;
	for (std::size_t i = 0; i < count; ++i) {
		wire::Clients c{ server, list.incarnation, list.sequence, static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(count), i == 0 ? list.others : 0, {} };
		const std::size_t from = i * wire::kClientsPerRecord;
		const std::size_t to = std::min(list.entries.size(), from + wire::kClientsPerRecord);
		c.entries.assign(list.entries.begin() + static_cast<std::ptrdiff_t>(from),
				 list.entries.begin() + static_cast<std::ptrdiff_t>(to));
		out.push_back(std::move(c));
	}
	return out;
}

} // namespace dmdns::gossip

// The peers a node gossips with, and which addresses speak for which node.
#include "distcc-mdns/gossip/peer_table.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

PeerTable::PeerTable(std::size_t maxPeers, std::size_t maxNodes, std::chrono::milliseconds silence)
	: maxPeers_(maxPeers), maxNodes_(maxNodes), silence_(silence)
{
	if (maxPeers == 0 || maxNodes == 0)
		throw std::invalid_argument("peer table needs room");
}

bool PeerTable::makeRoom(bool learnt)
{
	if (peers_.size() < maxPeers_)
		return true;
	// Learnt peers go first, then the one heard from least recently.
	auto victim = std::min_element(peers_.begin(), peers_.end(), [](const Peer &a, const Peer &b) {
		return a.learnt != b.learnt ? a.learnt : a.heard < b.heard;
	});
	if (learnt && !victim->learnt)
		return false;
	peers_.erase(victim);
	reindex();
	++evicted_;
	return true;
}

void PeerTable::reindex()
{
	index_.clear();
	for (std::size_t i = 0; i < peers_.size(); ++i)
		index_.emplace(peers_[i].endpoint, i);
}

bool PeerTable::add(const Endpoint &endpoint, bool pull)
{
	if (Peer *known = find(endpoint)) {
		known->learnt = false;
		known->relayed = false; // the caller's from now on
		known->pull = known->pull || pull;
		return false;
	}
	makeRoom(false);
	Peer p;
	p.endpoint = endpoint;
	p.pull = pull;
	peers_.push_back(std::move(p));
	index_.emplace(endpoint, peers_.size() - 1);
	return true;
}

bool PeerTable::remove(const Endpoint &endpoint)
{
	if (std::erase_if(peers_, [&](const Peer &p) { return p.endpoint == endpoint; }) == 0)
		return false;
	reindex();
	return true;
}

Peer *PeerTable::find(const Endpoint &endpoint)
{
	const auto it = index_.find(endpoint);
	return it == index_.end() ? nullptr : &peers_[it->second];
}

const Peer *PeerTable::find(const Endpoint &endpoint) const
{
	const auto it = index_.find(endpoint);
	return it == index_.end() ? nullptr : &peers_[it->second];
}

Peer *PeerTable::learn(const Endpoint &endpoint)
{
	// One learnt peer per address: a new port replaces the old one, so
	// many ports of one host cannot crowd out the real peers.
	if (std::erase_if(peers_, [&](const Peer &p) { return p.learnt && p.endpoint.address == endpoint.address; }))
		reindex();
	if (!makeRoom(true))
		return nullptr;
	Peer p;
	p.endpoint = endpoint;
	p.learnt = true;
	peers_.push_back(std::move(p));
	index_.emplace(endpoint, peers_.size() - 1);
	return &peers_.back();
}

void PeerTable::expire(SteadyTime now, std::chrono::milliseconds forget)
{
	if (std::erase_if(peers_, [&](const Peer &p) { return p.learnt && (!p.heard || now - *p.heard > forget); }))
		reindex();
	for (auto it = claims_.begin(); it != claims_.end();) {
		if (now - it->second.last > forget) {
			unindex(it->first, it->second.address);
			it = claims_.erase(it);
		} else {
			++it;
		}
	}
}

void PeerTable::unindex(std::uint64_t node, const std::string &address)
{
	const auto [lo, hi] = claimants_.equal_range(address);
	for (auto it = lo; it != hi; ++it)
		if (it->second == node) {
			claimants_.erase(it);
			return;
		}
}

void PeerTable::vouch(std::map<std::uint64_t, std::set<std::string>> addresses)
{
	vouched_ = std::move(addresses);
	for (const auto &[node, set] : vouched_)
		if (auto it = claims_.find(node); it != claims_.end()) {
			unindex(node, it->second.address);
			claims_.erase(it);
		}
}

bool PeerTable::speaksFor(std::uint64_t node, const std::string &address, SteadyTime now)
{
	if (auto it = vouched_.find(node); it != vouched_.end() && !it->second.empty())
		return it->second.contains(address);
	// A host is one node: an address that speaks for a live node cannot
	// claim another, so one liar owns one id, not the table.
	// (By address: a farm of a thousand nodes asks this for every datagram.)
	const auto [lo, hi] = claimants_.equal_range(address);
	for (auto c = lo; c != hi; ++c)
		if (c->second != node && now - claims_.at(c->second).last <= silence_)
			return false;
	auto it = claims_.find(node);
	if (it != claims_.end()) {
		if (it->second.address == address) {
			it->second.last = now;
			return true;
		}
		if (now - it->second.last <= silence_)
			return false; // another address speaks for it and is not silent
		unindex(node, it->second.address);
		it->second = Claim{ address, now };
		claimants_.emplace(address, node);
		return true;
	}
	if (claims_.size() >= maxNodes_) {
		auto victim = std::min_element(claims_.begin(), claims_.end(), [](const auto &a, const auto &b) {
			return a.second.last < b.second.last;
		});
		if (now - victim->second.last <= silence_)
			return false; // every claim is live: no room for a newcomer
		unindex(victim->first, victim->second.address);
		claims_.erase(victim);
	}
	claims_.emplace(node, Claim{ address, now });
	claimants_.emplace(address, node);
	return true;
}

std::optional<std::uint64_t> PeerTable::nodeAt(std::string_view address) const
{
	const Peer *best = nullptr;
	for (const Peer &p : peers_)
		if (p.node != 0 && p.endpoint.address == address && p.heard && (!best || *p.heard > *best->heard))
			best = &p;
	if (best)
		return best->node;
	for (const auto &[node, set] : vouched_)
		if (set.contains(std::string(address)))
			return node;
	std::optional<std::uint64_t> first;
	const auto [lo, hi] = claimants_.equal_range(std::string(address));
	for (auto c = lo; c != hi; ++c)
		if (!first || c->second < *first)
			first = c->second;
	return first;
}

} // namespace dmdns::gossip

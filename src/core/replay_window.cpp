// With a key: a per-sender high-water mark that makes every tagged datagram count once.
#include "distcc-mdns/gossip/replay_window.h"

#include <algorithm>
#include <stdexcept>

namespace dmdns::gossip {

ReplayWindow::ReplayWindow(std::size_t maxSenders)
	: maxSenders_(maxSenders)
{
	if (maxSenders == 0)
		throw std::invalid_argument("replay window needs room for a sender");
}

bool ReplayWindow::accept(std::uint64_t sender, std::uint64_t incarnation, std::uint64_t sequence)
{
	++calls_;
	auto it = senders_.find(sender);
	if (it == senders_.end()) {
		if (senders_.size() >= maxSenders_)
			senders_.erase(std::min_element(senders_.begin(), senders_.end(), [](const auto &a, const auto &b) {
				return a.second.used < b.second.used;
			}));
		senders_.emplace(sender, Mark{ incarnation, sequence, 1, calls_ });
		return true;
	}
	Mark &m = it->second;
	if (incarnation < m.incarnation)
		return false; // a previous run's datagram
	if (incarnation > m.incarnation) {
		m = Mark{ incarnation, sequence, 1, calls_ };
		return true;
	}
	if (sequence > m.highest) {
		const std::uint64_t shift = sequence - m.highest;
		m.seen = shift >= kWindow ? 1 : (m.seen << shift) | 1;
		m.highest = sequence;
		m.used = calls_;
		return true;
	}
	const std::uint64_t back = m.highest - sequence;
	if (back >= kWindow || (m.seen >> back) & 1)
		return false; // too old to judge, or seen
	m.seen |= std::uint64_t{ 1 } << back;
	m.used = calls_;
	return true;
}

} // namespace dmdns::gossip

// With a key: a per-sender high-water mark that makes every tagged datagram count once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

namespace dmdns::gossip {

// Remembers, per sender id, the newest (incarnation, datagram sequence)
// accepted and which of the kWindow sequences below it were seen (as IPsec
// and DTLS do), so that a datagram replayed, or delayed past the window,
// is refused, while datagrams reordered within the window still count.
// Only datagrams whose tag verified may be shown to it: the sequence is
// inside the tagged bytes. Bounded: past @maxSenders the sender heard from
// least recently is forgotten (it could then replay once; see
// docs/security.md).
class ReplayWindow final
{
public:
	static constexpr unsigned kWindow = 64;

	explicit ReplayWindow(std::size_t maxSenders);

	// True, and remembered, if (incarnation, sequence) is new for @sender.
	bool accept(std::uint64_t sender, std::uint64_t incarnation, std::uint64_t sequence);

	std::size_t size() const noexcept { return senders_.size(); }

private:
	struct Mark {
		std::uint64_t incarnation = 0;
		std::uint64_t highest = 0;
		std::uint64_t seen = 0; // bit i: highest - i was accepted
		std::uint64_t used = 0; // when last accepted, in accept() calls
	};

	std::size_t maxSenders_;
	std::map<std::uint64_t, Mark> senders_;
	std::uint64_t calls_ = 0;
};

} // namespace dmdns::gossip

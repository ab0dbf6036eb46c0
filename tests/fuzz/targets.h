// The invariants each fuzz target checks on one input; abort() on violation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "distcc-mdns/gossip.h"

namespace dmdns::fuzz {

// Reports a broken invariant and aborts, which libFuzzer records as a crash.
[[noreturn]] inline void violated(const char *what)
{
	std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
	std::abort();
}

// The framing of the multi-datagram targets: each frame is a length byte,
// a "how" byte the target reads as it likes, then up to that many bytes
// (fewer at the end of the input). Calls @frame(bytes, how) for each.
template <typename Frame>
void forEachFrame(const std::uint8_t *data, std::size_t size, Frame frame)
{
	for (std::size_t at = 0; at + 2 <= size;) {
		const std::size_t length = data[at];
		const std::uint8_t how = data[at + 1];
		at += 2;
		const std::span<const std::uint8_t> bytes(data + at, std::min(length, size - at));
		at += bytes.size();
		frame(bytes, how);
	}
}

// Input: TXT RDATA as on the wire, length-prefixed strings.
void checkTxt(const std::uint8_t *data, std::size_t size);

// Input: a host list as distcc would read it from $DISTCC_HOSTS.
void checkHostsLine(const std::uint8_t *data, std::size_t size);

// Input: distcc-mdns-run's remembered compile times (WorkHistory's text),
// or, after a NUL byte, its placement file (Placement's text).
void checkWorks(const std::uint8_t *data, std::size_t size);

// Input: one request line as a client writes it to the query socket.
void checkQueryLine(const std::uint8_t *data, std::size_t size);

// Input: one gossip datagram as received over UDP.
void checkGossipPacket(const std::uint8_t *data, std::size_t size);

// A gossip node with small tables (8 entries, 4 sources), so that inputs
// reach their bounds and evictions.
GossipConfig smallGossipConfig();

// Input: a sequence of hostile datagrams (each a length byte, a byte saying
// which address sends it and whether it asks for state, then the bytes),
// between which the genuine server keeps sending its own samples.
void checkGossipMerge(const std::uint8_t *data, std::size_t size);

// Input: as checkGossipMerge's, from three hostile hosts and a forged
// honest address (the how byte's low 2 bits; bit 2: this node finishes a
// job on every honest server; the rest: how long until the next), against
// a node whose own jobs show four servers of speed 1.
void checkSpeedMerge(const std::uint8_t *data, std::size_t size);

} // namespace dmdns::fuzz

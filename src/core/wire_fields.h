// Gossip wire format v2: what the encoder, the decoder and the validator share.
#pragma once

#include <cstdint>
#include <string>

#include "distcc-mdns/gossip_wire.h"

namespace dmdns::wire::detail {

// Bits of a Sample's options byte.
inline constexpr std::uint8_t kOptLzo = 0x01;
inline constexpr std::uint8_t kOptCpp = 0x02;

// Body size of a known record type, without the two bytes of type and
// length (Pad: any length, 0 here; Clients: its head, entries not counted).
std::size_t bodySize(RecordType type) noexcept;

// Why a header's or record's counters cannot be true, empty when they can.
std::string checkCounters(std::uint64_t incarnation, std::uint64_t sequence);

} // namespace dmdns::wire::detail

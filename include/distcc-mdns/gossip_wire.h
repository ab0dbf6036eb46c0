// Gossip wire format v2: the binary datagrams daemons exchange (see docs/protocol.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns::wire {

// "dG": lets a receiver drop stray datagrams before reading further.
inline constexpr std::uint8_t kMagic0 = 0x64;
inline constexpr std::uint8_t kMagic1 = 0x47;
inline constexpr std::uint8_t kVersion = 2;

// Fits one Ethernet frame with IPv6 and UDP headers to spare, tag included.
inline constexpr std::size_t kMaxDatagram = 1400;
inline constexpr std::size_t kHeaderSize = 29;
inline constexpr std::size_t kTagSize = 32;
inline constexpr std::size_t kMaxRecords = 255; // the count is one byte

// Header flags; any other bit set makes the datagram invalid in v2, since a
// receiver cannot know what an unknown flag changes.
inline constexpr std::uint8_t kFlagTagged = 0x01;	   // a 32-byte tag follows the body
inline constexpr std::uint8_t kFlagPushPullRequest = 0x02; // answer with your full state
inline constexpr std::uint8_t kFlagFullState = 0x04;	   // part of a full-state exchange
inline constexpr std::uint8_t kKnownFlags = kFlagTagged | kFlagPushPullRequest | kFlagFullState;

// Bounds the decoder enforces besides those of server.h.
inline constexpr std::uint32_t kMaxAgeMs = 3'600'000;		  // older news is no news
inline constexpr std::uint32_t kMaxRunnableMilli = 1'000'000'000; // 1e6 tasks, as the TXT `load`
inline constexpr std::uint32_t kMaxReservationTtlMs = 60'000;
inline constexpr std::uint32_t kMaxReservedJobs = kMaxSlots;
inline constexpr std::uint32_t kMaxWantedJobs = 1'000'000;
inline constexpr std::uint32_t kMaxLocalSlots = kMaxSlots;
// A server names at most this many clients running jobs on it (the rest
// are summed as "others"); any one count is at most kMaxClientJobs.
inline constexpr std::size_t kMaxClientEntries = 16;
inline constexpr std::uint32_t kMaxClientJobs = 4096;
// Incarnations and sequence numbers at or above this are absurd: a daemon
// counting from the wall clock's milliseconds, or from 1 a thousand times a
// second, does not reach 2^62 in a hundred million years. Refusing them on
// the wire leaves room to refute any accepted value without wrapping.
inline constexpr std::uint64_t kMaxCounter = std::uint64_t{ 1 } << 62;

enum class RecordType : std::uint8_t {
	Sample = 1,
	Leave = 2,
	Reservation = 3,
	Demand = 4,
	Load = 5,
	Cookie = 6,
	Pad = 7, // any length, ignored: pads a request so that its answer may be larger
	Profile = 8,
	Speed = 9,
	Clients = 10,
	LocalJobs = 11,
	Where = 12,
};

// A server's load as it measured it. Ids are the 16-hex-digit host id of the
// TXT record read as a number; 0 is never a valid id.
struct Sample {
	std::uint64_t server = 0;
	std::uint64_t incarnation = 0; // new at every start of the server's daemon
	std::uint64_t sequence = 0;    // increases with every sample
	std::uint32_t ageMs = 0;       // how old the measurement was when sent
	std::uint32_t running = 0;     // running + queued jobs, <= 65535
	std::uint32_t slots = 1;
	std::uint32_t cpus = 1;
	double runnable = 0.0; // sent in thousandths
	double speed = 1.0;    // the unit of Server::speed, sent in thousandths
	ServerState state = ServerState::Up;
	bool lzo = false;
	bool cpp = false;
	std::uint16_t port = kDistccPort;

	bool operator==(const Sample &) const = default;
};

// A node stopped cleanly; its samples of this incarnation or older are void.
struct Leave {
	std::uint64_t node = 0;
	std::uint64_t incarnation = 0;

	bool operator==(const Leave &) const = default;
};

// "Client @client handed out @count jobs on @server": other clients count
// them in that server's expected wait until the server's own later sample
// includes them or @ttlMs after they were made. A count of 0 cancels.
struct Reservation {
	std::uint64_t client = 0;
	std::uint64_t server = 0;
	std::uint32_t count = 0;
	std::uint32_t ttlMs = 0;
	std::uint32_t ageMs = 0;
	std::uint64_t incarnation = 0; // the client's
	std::uint64_t sequence = 0;    // the client's, over all its reservations

	bool operator==(const Reservation &) const = default;
};

// How many remote jobs a client currently asks for, and its own slots.
struct Demand {
	std::uint64_t client = 0;
	std::uint64_t incarnation = 0;
	std::uint64_t sequence = 0;
	std::uint32_t ageMs = 0;
	std::uint32_t wanted = 0;
	std::uint32_t localSlots = 0;

	bool operator==(const Demand &) const = default;
};

// A server's new load, or a heartbeat confirming the old one, in a third of
// a Sample's bytes: it applies on top of the full Sample a node already
// holds from the same incarnation (whose low 16 bits it carries), and
// supersedes it by sequence. Without that Sample it is ignored; push-pull
// brings the Sample.
struct Load {
	std::uint64_t server = 0;
	std::uint16_t incarnation = 0; // low 16 bits of the server's incarnation
	std::uint32_t sequence = 0;    // low 32 bits of the sample's sequence
	std::uint32_t ageMs = 0;       // sent in 10 ms units, <= kMaxLoadAgeMs
	std::uint32_t running = 0;     // <= 65535
	double runnable = 0.0;	       // sent in tenths, <= 6553.5

	bool operator==(const Load &) const = default;
};

inline constexpr std::uint32_t kMaxLoadAgeMs = 655'350;

// An address-validation cookie (as DNS cookies): a node answering a request
// from an address it has not validated sends at most three times the
// request's bytes, this cookie among them; a later request from that
// address that echoes it proves the sender receives there.
struct Cookie {
	std::uint64_t value = 0; // not 0

	bool operator==(const Cookie &) const = default;
};

// What a server advertises by mDNS beyond its samples, as a digest of its
// TXT record (txtProfileDigest): clients take a TXT change for a server
// only when it matches what the server says here itself, so that a forged
// TXT cannot change its compilers, addresses or --allow. Only the server's
// own, of its current incarnation, counts; it goes wherever its full Sample
// goes.
struct Profile {
	std::uint64_t server = 0;
	std::uint64_t incarnation = 0;
	std::uint64_t digest = 0;

	bool operator==(const Profile &) const = default;
};

// "Client @client's own remote jobs on @server took @logTime on average":
// the client's window (decayed mean of ln wall milliseconds, corrected for
// the server's contention, and the decayed number of jobs behind it), for
// every client to learn the server's speed from (speed_estimate.h). Only a
// client speaks of its own jobs, one source per address without a key.
struct Speed {
	std::uint64_t client = 0;
	std::uint64_t server = 0;
	std::uint64_t incarnation = 0; // the client's
	std::uint64_t sequence = 0;    // the client's, as its demand's and reservations'
	std::uint32_t ageMs = 0;       // since the client last updated it
	double logTime = 0.0;	       // sent in 1/10000, in [0, kMaxSpeedLogTime]
	std::uint32_t jobs = 1;	       // 1..65535

	bool operator==(const Speed &) const = default;
};

// ln of 10^8 ms (28 hours) is 18.4: no compile takes longer.
inline constexpr double kMaxSpeedLogTime = 20.0;
inline constexpr std::uint32_t kMaxSpeedJobs = 65535;

// One client's jobs on a server: its address as the server's distccd saw
// it, 16 bytes (IPv4 as IPv4-mapped IPv6), and its ESTABLISHED connections.
struct ClientEntry {
	std::array<std::uint8_t, 16> address{};
	std::uint32_t running = 1; // 1..kMaxClientJobs

	bool operator==(const ClientEntry &) const = default;
};

// "These clients run jobs on me": a server's own list, busiest first, at
// most kMaxClientEntries named and the rest summed in @others. A record
// holds at most kClientsPerRecord entries, so a longer list goes as
// @parts records of one (incarnation, sequence), part 0 first; a receiver
// takes the list once it holds every part. Only the server's own word, or
// a relay's copy of its current run, counts (docs/protocol.md). The
// sequence is the server's own count of its lists (not its samples'): a
// list goes out when it changes, not with every heartbeat.
struct Clients {
	std::uint64_t server = 0;
	std::uint64_t incarnation = 0;
	std::uint64_t sequence = 0;
	std::uint8_t part = 0;	  // 0-based
	std::uint8_t parts = 1;	  // 1..kMaxClientParts
	std::uint32_t others = 0; // jobs of clients not named (part 0 only), <= kMaxClientJobs
	std::vector<ClientEntry> entries;

	bool operator==(const Clients &) const = default;
};

inline constexpr std::size_t kClientsPerRecord = 8;
inline constexpr std::size_t kMaxClientParts = (kMaxClientEntries + kClientsPerRecord - 1) / kClientsPerRecord;
// A Clients body: 27 bytes, then 18 per entry.
inline constexpr std::size_t kClientsHeadSize = 27;
inline constexpr std::size_t kClientEntrySize = 18;

// How many of a client's compiles run on its own machine (distcc clients
// with no connection to a server), as it counts them: next to its Demand,
// sent when it changes. Only the client speaks of itself.
struct LocalJobs {
	std::uint64_t client = 0;
	std::uint64_t incarnation = 0;
	std::uint64_t sequence = 0; // the client's, as its demand's
	std::uint32_t jobs = 0;	    // <= kMaxClientJobs

	bool operator==(const LocalJobs &) const = default;
};

// "Server @server is heard first hand at @address, gossip port @port":
// what lets a node on another subnet, where mDNS does not reach, gossip
// with a server and list it. Only a trusted relay's word counts (a
// --peer, or with a key any peer), and only for a server the relay hears
// itself now; the receiver then asks the server directly, and lists it
// while the server's own gossip keeps it alive (docs/protocol.md, WHERE).
// The address is one any subnet can route to: never unspecified,
// loopback, multicast, broadcast or link-local (a scope means nothing off
// the relay's link).
struct Where {
	std::uint64_t server = 0;
	std::uint64_t incarnation = 0;		// the server's run the relay hears
	std::array<std::uint8_t, 16> address{}; // IPv4 as IPv4-mapped IPv6
	std::uint16_t port = 0;			// the server's gossip UDP port

	bool operator==(const Where &) const = default;
};

using Record = std::variant<Sample, Leave, Reservation, Demand, Load, Cookie, Profile, Speed, Clients, LocalJobs,
			    Where>;

// Encoded body sizes, without the two bytes of type and length.
inline constexpr std::size_t kSampleSize = 46;
inline constexpr std::size_t kLeaveSize = 16;
inline constexpr std::size_t kReservationSize = 42;
inline constexpr std::size_t kDemandSize = 34;
inline constexpr std::size_t kLoadSize = 20;
inline constexpr std::size_t kCookieSize = 8;
inline constexpr std::size_t kProfileSize = 24;
inline constexpr std::size_t kSpeedSize = 42;
inline constexpr std::size_t kLocalJobsSize = 26;
inline constexpr std::size_t kWhereSize = 34;
// Clients: kClientsHeadSize + kClientEntrySize per entry, the only record
// of variable length besides Pad.

struct Header {
	std::uint8_t flags = 0;
	std::uint64_t sender = 0;      // node id of the sending daemon
	std::uint64_t incarnation = 0; // of the sending daemon
	// Grows with every datagram the sender sends in this incarnation: with
	// a key, the receiver's replay window judges it (stamped by
	// stampSequence() just before the tag).
	std::uint64_t sequence = 0;

	bool operator==(const Header &) const = default;
};

struct Packet {
	Header header;
	std::vector<Record> records;
};

struct Decoded {
	std::optional<Packet> packet; // empty when the datagram is invalid
	std::string error;	      // why, when it is
	// The bytes an authentication tag covers: everything before the tag.
	std::size_t bodyEnd = 0;
	bool tagged = false;
	// Records of unknown types, skipped by their length.
	std::size_t unknownRecords = 0;
	// Pad records, skipped.
	std::size_t padRecords = 0;
	// The datagram spoke another wire version (the error says which).
	bool otherVersion = false;
};

// The reason @record cannot be sent or accepted, empty when it is valid.
std::string validate(const Record &record);

// Size of @record on the wire, type and length bytes included.
std::size_t encodedSize(const Record &record) noexcept;

// Decodes one datagram. Never throws for bad input and never reads outside
// @datagram; any malformed or absurd field invalidates the whole datagram.
Decoded decode(std::span<const std::uint8_t> datagram);

// The tag of a tagged datagram that decode() accepted.
std::span<const std::uint8_t, kTagSize> tagOf(std::span<const std::uint8_t> datagram,
					      const Decoded &decoded);

// Builds one datagram of at most @maxSize bytes, tag included. With the
// tagged flag the datagram ends in kTagSize zero bytes for the adapter that
// holds the key to overwrite.
class PacketWriter final
{
public:
	explicit PacketWriter(const Header &header, std::size_t maxSize = kMaxDatagram);

	// Appends @record if it fits; false when it does not (the datagram is
	// full). Throws std::invalid_argument when validate() refuses it.
	bool add(const Record &record);

	// Appends a Pad record so that the datagram is at least @size bytes,
	// tag included (as far as it fits).
	void padTo(std::size_t size);

	std::size_t records() const noexcept { return count_; }
	bool empty() const noexcept { return count_ == 0; }
	std::size_t size() const noexcept { return bytes_.size() + tagRoom(); }

	// The finished datagram; the writer is left empty for reuse.
	std::vector<std::uint8_t> finish();

private:
	std::size_t tagRoom() const noexcept;

	Header header_;
	std::size_t maxSize_;
	std::size_t count_ = 0;
	std::vector<std::uint8_t> bytes_;
};

// Writes @sequence into the header of an encoded datagram (before it is
// tagged); throws std::invalid_argument when @datagram is no datagram.
void stampSequence(std::span<std::uint8_t> datagram, std::uint64_t sequence);

// Encodes @packet as one datagram; throws std::length_error when it does not
// fit in kMaxDatagram and std::invalid_argument for an invalid record.
std::vector<std::uint8_t> encode(const Packet &packet);

// The TXT `id` (16 hex digits, either case) as a node id, and back (lower
// case). Zero is refused: it is no valid id.
std::optional<std::uint64_t> parseNodeId(std::string_view hex) noexcept;
std::string formatNodeId(std::uint64_t id);

// A numeric address as records carry it (16 bytes, IPv4 as IPv4-mapped
// IPv6), and back (an IPv4-mapped address as plain IPv4, as source
// addresses and hosts lines write it). A scope (%eth0) is refused.
std::optional<std::array<std::uint8_t, 16>> addressBytes(const std::string &text);
std::string addressText(const std::array<std::uint8_t, 16> &bytes);

} // namespace dmdns::wire

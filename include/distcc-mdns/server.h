// Server record and load model: what a resolver knows about one distccd host.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/speed_estimate.h"

namespace dmdns {

// distccd's default TCP port; hosts lines omit it.
inline constexpr std::uint16_t kDistccPort = 3632;

// Bounds every decoder enforces on advertised capacity.
inline constexpr std::uint32_t kMaxCpus = 4096;
inline constexpr std::uint32_t kMaxSlots = 4096;
inline constexpr double kMinSpeed = 0.001;
inline constexpr double kMaxSpeed = 1000.0;

enum class ServerState : std::uint8_t {
	Up,
	Drain,
	Down
};

std::string_view stateName(ServerState state) noexcept;
std::optional<ServerState> parseServerState(std::string_view text) noexcept;

// One compiler a server runs: `cc -dumpmachine` and `cc -dumpversion`.
struct Compiler {
	std::string machine;
	std::string version;

	// Both parts are 1-63 letters, digits or "._-" (machine) and "._+~-"
	// (version): what `cc -dumpmachine`/`-dumpversion` print and what the
	// TXT record can carry.
	bool valid() const noexcept;

	bool operator==(const Compiler &) const = default;
};

// A numeric IP address as the resolver saw it.
struct Address {
	enum class Family : std::uint8_t {
		IPv4,
		IPv6
	};

	Family family = Family::IPv4;
	std::string text;	 // canonical numeric form, no brackets, no scope
	std::uint32_t scope = 0; // interface index of a link-local IPv6, 0 if none

	// Accepts a numeric IPv4 or IPv6 address; returns it in canonical form.
	static std::optional<Address> parse(std::string_view text,
					    std::uint32_t scope = 0);

	bool isLinkLocal() const noexcept;
	bool isLoopback() const noexcept;
	// 0.0.0.0 or ::, which a listening socket binds to accept on every
	// address of its family.
	bool isWildcard() const noexcept;
	bool operator==(const Address &) const = default;
};

// An address block, "10.99.0.0/16" or "fe80::/64"; a bare address is one
// host. distccd's --allow takes this form, and an interface has one.
struct Network {
	Address address; // as written: host bits may be set, the scope is 0
	std::uint8_t prefix = 32;

	// "ADDRESS" or "ADDRESS/PREFIX" with PREFIX at most 32 (IPv4) or 128.
	static std::optional<Network> parse(std::string_view text);

	// Whether @a lies in the block; an IPv4-mapped IPv6 address (as an
	// IPv6 socket sees an IPv4 peer) counts as its IPv4 address.
	bool contains(const Address &a) const noexcept;
	// "ADDRESS/PREFIX", or ADDRESS alone for one host.
	std::string text() const;
	bool operator==(const Network &) const = default;
};

// A load measurement originated by the server itself.
struct LoadSample {
	std::uint32_t running = 0;	    // running + queued jobs on distccd
	double runnable = 0.0;		    // runnable tasks of the whole host
	std::uint64_t incarnation = 0;	    // new at every daemon start
	std::uint64_t sequence = 0;	    // increases with every sample
	std::chrono::milliseconds age{ 0 }; // how old the measurement is

	// Whether this sample supersedes @other from the same server.
	bool newerThan(const LoadSample &other) const noexcept;
};

// What gossip says of a server: its samples keep arriving (alive), are late
// (suspect: still listed), stopped (dead) or it said goodbye (left).
enum class Liveness : std::uint8_t {
	Unknown, // never heard by gossip: mDNS alone vouches for it
	Alive,
	Suspect,
	Dead,
	Left,
};

std::string_view livenessName(Liveness liveness) noexcept;

struct Server {
	std::string id; // stable host id, unique per host
	std::vector<Address> addresses;
	std::uint16_t port = kDistccPort;
	std::uint32_t cpus = 0;
	std::uint32_t slots = 0; // distccd's --jobs
	double speed = 1.0;	 // relative to the documented reference machine
	// How gossip chose `speed` (live.h): the benchmark the server
	// advertised, what jobs taught, and which the planner uses. Empty
	// where gossip does not know the server by id.
	std::optional<SpeedEstimate> speedEstimate;
	ServerState state = ServerState::Up;
	bool lzo = false;
	bool cpp = false;
	std::vector<Compiler> compilers;   // the first is the default `cc`
	std::string distccVersion = "3.4"; // of the distccd behind the port
	std::optional<LoadSample> sample;  // empty: load unknown (stock distccd)
	Liveness liveness = Liveness::Unknown;
	// Where its distccd accepts, as the server advertises it (empty: not
	// said, as by a stock distccd): the addresses it listens on, a
	// wildcard standing for every address of its family, and the networks
	// its --allow admits.
	std::vector<Address> listens;
	std::vector<Network> allows;

	// Work the server completes per unit time, in reference-job units.
	double capacity() const noexcept;

	// Running jobs the picker assumes: the sample's count, or half the
	// slots when the load is unknown, so that a stock distccd competes as
	// a half-busy server instead of looking idle or full.
	double assumedRunning() const noexcept;

	// Expected wait of one more job, in units of one reference job:
	// (running + queued + reserved + 1) / (slots x speed).
	double expectedWait(std::uint32_t reserved) const noexcept;

	// Whether the server runs @compiler (same target machine and version).
	bool offers(const Compiler &compiler) const noexcept;

	// Whether distccd listens on @a (always, when the server did not say).
	bool listensOn(const Address &a) const noexcept;
	// Whether distccd's --allow admits a client at @from (always, when the
	// server did not say).
	bool admits(const Address &from) const noexcept;

	// The address a distcc client should connect to: IPv4 first, then
	// global IPv6, then scoped link-local IPv6; never an unscoped
	// link-local address.
	std::optional<Address> preferredAddress() const;
};

} // namespace dmdns

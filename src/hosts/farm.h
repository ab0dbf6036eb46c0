// The farm object of the query socket's "farm" and "watch" operations (docs/query-socket.md), as --top reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmdns::top {

// What --top keeps of one answer: the view needs no more, and every list
// is cut at a bound so that a daemon's (or an impostor's) huge answer
// cannot grow the terminal's process.
inline constexpr std::size_t kMaxServers = 1024;
inline constexpr std::size_t kMaxClients = 1024;
inline constexpr std::size_t kMaxServerClients = 64;
inline constexpr std::size_t kMaxHistory = 600;
inline constexpr std::size_t kMaxCompilers = 16;
// A longer text is cut: names, reasons and the line are shown, not parsed.
inline constexpr std::size_t kMaxText = 512;

// A client a server says runs jobs on it (Contract A); an empty address is
// the "others" remainder.
struct ServerClient {
	std::string address;
	std::optional<std::string> name;
	std::uint32_t running = 0;
	std::optional<std::string> client; // its node id, when gossip hears one there
};

struct FarmServer {
	std::string name;
	std::string host;
	std::optional<std::string> address;
	std::string state = "up";	     // "up", "drain", "down"
	std::optional<std::string> excluded; // why this machine's line leaves it out
	std::optional<std::uint32_t> cpus;
	std::uint32_t slots = 0;
	std::optional<std::uint32_t> running; // running and queued on its distccd
	std::uint32_t reserved = 0;
	std::optional<double> load; // runnable tasks of the whole host
	double speed = 1.0;
	std::optional<std::int64_t> ageMs;
	std::optional<std::string> liveness;
	bool local = false;
	bool fresh = false;
	std::uint32_t limit = 0; // in this machine's line
	std::vector<std::string> compilers;
	std::vector<ServerClient> clients;
	std::vector<std::uint32_t> busyHistory; // oldest first, one a second
};

struct FarmClient {
	std::string id;
	std::optional<std::string> name;
	std::optional<std::string> address;
	bool self = false;
	std::uint32_t want = 0;
	std::uint32_t localSlots = 0;
	std::optional<std::uint32_t> share; // null: no overload, all it wants
	std::uint32_t holding = 0;
	std::optional<std::uint32_t> running;
	std::optional<std::uint32_t> localJobs;
	std::optional<std::int64_t> ageMs;
	std::vector<std::uint32_t> shareHistory;
};

struct FarmTotals {
	std::uint32_t servers = 0, up = 0, slots = 0, busy = 0, reserved = 0, wanted = 0, waiting = 0, clients = 0;
	double utilisation = 0.0;
};

struct Farm {
	std::uint64_t seq = 0;
	std::string node;
	std::string host;
	std::int64_t timeMs = 0;
	std::string line;
	std::uint32_t jobs = 0;
	FarmTotals totals;
	std::vector<FarmServer> servers;
	std::vector<FarmClient> clients;
	// Lists longer than the bounds above, cut: the view says so.
	std::size_t serversCut = 0, clientsCut = 0;
};

// Reads one farm object (a line of JSON text). Throws std::invalid_argument
// naming the key when it is not an object of the documented shape; keys it
// does not know are ignored, and optional ones may be missing or null.
Farm decodeFarm(std::string_view text);

} // namespace dmdns::top

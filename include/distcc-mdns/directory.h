// The servers a resolver knows, merged from every interface and protocol they were seen on.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "distcc-mdns/server.h"
#include "distcc-mdns/txt.h"

namespace dmdns {

using SteadyTime = std::chrono::steady_clock::time_point;

// One DNS-SD instance as seen on one interface and protocol.
struct InstanceKey {
	int interface = -1;
	int protocol = -1;
	std::string name;
	std::string domain;

	auto operator<=>(const InstanceKey &) const = default;
};

// What resolving one instance gave.
struct ResolvedInstance {
	InstanceKey key;
	std::string hostName; // e.g. build-01.local
	std::optional<Address> address;
	std::uint16_t port = 0;
	std::vector<std::string> txt;
	bool local = false; // published by this very host
};

// One server as the directory presents it.
struct DirectoryEntry {
	std::string name;     // DNS-SD instance name, e.g. distcc@build-01
	std::string hostName; // mDNS host name
	Server server;	      // sample age relative to the snapshot time
	bool stock = false;   // a stock distccd without our keys
	bool local = false;
	std::vector<TxtProblem> problems; // what its TXT had wrong
};

// Merges the instances of one service name seen over several interfaces and
// protocols into one server. Records are keyed by (name, domain): DNS-SD
// names are unique on a link, and Avahi renames on collision. Bounded by
// kMaxServers; beyond that new names are refused.
class Directory final
{
public:
	static constexpr std::size_t kMaxServers = 512;

	enum class Outcome {
		Accepted,
		// Table full, unusable TXT, or no port: not listed.
		Refused,
		// The name now belongs to another host or advertiser (its TXT id
		// or its host changed): the record is dropped, since a kept-open
		// resolver can briefly report the new TXT with the old address.
		// The caller should resolve the name afresh.
		IdentityChanged,
	};

	Outcome resolved(const ResolvedInstance &instance, SteadyTime now);
	// Returns true when this removed the last sighting of a server.
	bool removed(const InstanceKey &key);
	void clear() noexcept { records_.clear(); }

	std::size_t size() const noexcept { return records_.size(); }
	std::vector<DirectoryEntry> snapshot(SteadyTime now) const;

private:
	struct Sighting {
		std::optional<Address> address;
		std::uint16_t port = 0;
	};
	struct Record {
		std::map<InstanceKey, Sighting> sightings;
		std::string hostName;
		TxtDecoded decoded;
		std::vector<std::string> txt; // as last received, to skip repeats
		SteadyTime txtAt{};
		bool local = false;
	};
	using RecordKey = std::pair<std::string, std::string>; // name, domain

	std::map<RecordKey, Record> records_;
};

} // namespace dmdns

// The servers a resolver knows, merged from every interface and protocol they were seen on.
#include "distcc-mdns/directory.h"

#include <algorithm>

namespace dmdns {

bool Directory::resolved(const ResolvedInstance &instance, SteadyTime now)
{
	const RecordKey key{ instance.key.name, instance.key.domain };
	auto it = records_.find(key);
	if (it == records_.end()) {
		if (records_.size() >= kMaxServers)
			return false;
		TxtDecoded decoded = decodeTxt(instance.txt);
		if (!decoded.usable)
			return false;
		it = records_.emplace(key, Record{}).first;
		it->second.decoded = std::move(decoded);
		it->second.txt = instance.txt;
		it->second.txtAt = now;
	} else if (instance.txt != it->second.txt) {
		TxtDecoded decoded = decodeTxt(instance.txt);
		if (!decoded.usable) {
			// The server now says something we cannot use: forget it.
			records_.erase(it);
			return false;
		}
		it->second.decoded = std::move(decoded);
		it->second.txt = instance.txt;
		it->second.txtAt = now;
	}
	Record &record = it->second;
	record.hostName = instance.hostName;
	record.local = instance.local;
	record.sightings[instance.key] = Sighting{ instance.address, instance.port };
	return true;
}

bool Directory::removed(const InstanceKey &key)
{
	auto it = records_.find({ key.name, key.domain });
	if (it == records_.end())
		return false;
	it->second.sightings.erase(key);
	if (!it->second.sightings.empty())
		return false;
	records_.erase(it);
	return true;
}

std::vector<DirectoryEntry> Directory::snapshot(SteadyTime now) const
{
	std::vector<DirectoryEntry> out;
	out.reserve(records_.size());
	for (const auto &[key, record] : records_) {
		DirectoryEntry entry;
		entry.name = key.first;
		entry.hostName = record.hostName;
		entry.stock = !record.decoded.ours;
		entry.local = record.local;
		entry.problems = record.decoded.problems;
		entry.server = record.decoded.server;
		Server &server = entry.server;
		if (server.id.empty())
			server.id = key.first;
		for (const auto &[_, sighting] : record.sightings) {
			if (sighting.port)
				server.port = sighting.port;
			if (sighting.address &&
			    std::find(server.addresses.begin(), server.addresses.end(), *sighting.address) ==
				    server.addresses.end())
				server.addresses.push_back(*sighting.address);
		}
		if (server.sample)
			server.sample->age = std::chrono::duration_cast<std::chrono::milliseconds>(now - record.txtAt);
		out.push_back(std::move(entry));
	}
	return out;
}

} // namespace dmdns

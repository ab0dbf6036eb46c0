// The servers a resolver knows, merged from every interface and protocol they were seen on.
#include "distcc-mdns/directory.h"

#include <algorithm>

namespace dmdns {

Directory::Outcome Directory::resolved(const ResolvedInstance &instance, SteadyTime now)
{
	if (instance.port == 0)
		return Outcome::Refused;
	const RecordKey key{ instance.key.name, instance.key.domain };
	auto it = records_.find(key);
	if (it == records_.end() && records_.size() >= kMaxServers)
		return Outcome::Refused;

	const bool sameTxt = it != records_.end() && instance.txt == it->second.txt;
	TxtDecoded decoded = sameTxt ? TxtDecoded{} : decodeTxt(instance.txt);
	if (!sameTxt && !decoded.usable) {
		// The server now says something we cannot use: forget it.
		if (it != records_.end())
			records_.erase(it);
		return Outcome::Refused;
	}
	if (it != records_.end()) {
		const Record &old = it->second;
		const bool otherAdvertiser = !sameTxt && (decoded.ours != old.decoded.ours ||
							  decoded.server.id != old.decoded.server.id);
		if (otherAdvertiser || instance.hostName != old.hostName) {
			records_.erase(it);
			return Outcome::IdentityChanged;
		}
	}
	if (it == records_.end())
		it = records_.emplace(key, Record{}).first;
	Record &record = it->second;
	if (!sameTxt) {
		record.decoded = std::move(decoded);
		record.txt = instance.txt;
		record.txtAt = now;
	}
	record.hostName = instance.hostName;
	record.local = instance.local;
	record.sightings[instance.key] = Sighting{ instance.address, instance.port };
	return Outcome::Accepted;
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

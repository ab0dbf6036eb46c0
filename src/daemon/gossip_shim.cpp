// SHIM until the clientjobs branch lands: Contract A's gossip queries, answering "unknown".
#include "distcc-mdns/gossip.h"

namespace dmdns {

void Gossip::setOwnClients(std::vector<ClientJobs>) { }
void Gossip::setOwnLocalJobs(std::uint32_t) { }
std::vector<ClientJobs> Gossip::serverClients(std::uint64_t) const
{
	return {};
}
std::optional<std::uint32_t> Gossip::localJobs(std::uint64_t) const
{
	return std::nullopt;
}
std::optional<std::uint64_t> Gossip::nodeAt(std::string_view) const
{
	return std::nullopt;
}

} // namespace dmdns

// What this daemon tells gossip its own clients want.
#include "daemon/demand_ledger.h"

namespace dmdns {

void DemandLedger::answered(const HostsAnswer &answer)
{
	if (answer.reserve)
		sink_(answer.reservations, answer.want, answer.localSlots);
}

void DemandLedger::buildsRunning(std::uint32_t clients, std::uint32_t localSlots)
{
	if (clients > 0 || fileDemand_ > 0)
		sink_({}, clients, localSlots);
	fileDemand_ = clients;
}

} // namespace dmdns

// What counts as a change of load for the advertiser's SampleCadence.
#pragma once

#include <chrono>
#include <cstdint>

#include "distcc-mdns/sample_cadence.h"
#include "host/probe.h"

namespace dmdns {

// Whether @now differs from @before in something the farm acts on:
// distccd listening or not, its job count, or the runnable tasks by as much
// as gossip calls news (a quarter of @cpus, at least one task; smaller
// moves are jitter, see sameLoad in src/core/own_news.cpp).
bool loadChanged(const host::LoadReading &before, const host::LoadReading &now, std::uint32_t cpus) noexcept;

} // namespace dmdns

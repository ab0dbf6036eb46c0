// Gossip wire format v2: the bounds every record must keep, sent or received.
#include "distcc-mdns/gossip_wire.h"

#include <algorithm>
#include <array>
#include <type_traits>

#include <fmt/format.h>

#include "core/wire_fields.h"

namespace dmdns::wire {

namespace detail {

// Incarnations and sequences beyond kMaxCounter are forgeries or bugs.
std::string checkCounters(std::uint64_t incarnation, std::uint64_t sequence)
{
	if (incarnation >= kMaxCounter)
		return fmt::format("incarnation {} absurd", incarnation);
	if (sequence >= kMaxCounter)
		return fmt::format("sequence {} absurd", sequence);
	return {};
}

std::size_t bodySize(RecordType type) noexcept
{
	switch (type) {
	case RecordType::Sample:
		return kSampleSize;
	case RecordType::Leave:
		return kLeaveSize;
	case RecordType::Reservation:
		return kReservationSize;
	case RecordType::Demand:
		return kDemandSize;
	case RecordType::Load:
		return kLoadSize;
	case RecordType::Cookie:
		return kCookieSize;
	case RecordType::Profile:
		return kProfileSize;
	case RecordType::Speed:
		return kSpeedSize;
	case RecordType::Clients:
		return kClientsHeadSize; // and kClientEntrySize per entry
	case RecordType::LocalJobs:
		return kLocalJobsSize;
	case RecordType::Where:
		return kWhereSize;
	case RecordType::Pad:
		return 0; // any length
	}
	return 0;
}

} // namespace detail

namespace {

using detail::checkCounters;

std::string checkSample(const Sample &s)
{
	if (s.server == 0)
		return "server id 0";
	if (std::string why = checkCounters(s.incarnation, s.sequence); !why.empty())
		return why;
	if (s.ageMs > kMaxAgeMs)
		return fmt::format("age {} ms over {}", s.ageMs, kMaxAgeMs);
	if (s.running > 65535)
		return fmt::format("running {} over 65535", s.running);
	if (s.slots < 1 || s.slots > kMaxSlots)
		return fmt::format("slots {} not in [1, {}]", s.slots, kMaxSlots);
	if (s.cpus < 1 || s.cpus > kMaxCpus)
		return fmt::format("cpus {} not in [1, {}]", s.cpus, kMaxCpus);
	if (!(s.runnable >= 0.0 && s.runnable <= kMaxRunnableMilli / 1000.0))
		return "runnable not in [0, 1e6]";
	if (!(s.speed >= kMinSpeed && s.speed <= kMaxSpeed))
		return fmt::format("speed not in [{}, {}]", kMinSpeed, kMaxSpeed);
	if (s.state != ServerState::Up && s.state != ServerState::Drain && s.state != ServerState::Down)
		return "unknown state";
	if (s.cpp && !s.lzo)
		return "cpp without lzo";
	if (s.port == 0)
		return "port 0";
	return {};
}

std::string checkLeave(const Leave &l)
{
	if (l.node == 0)
		return "node id 0";
	return checkCounters(l.incarnation, 0);
}

std::string checkReservation(const Reservation &r)
{
	if (r.client == 0 || r.server == 0)
		return "id 0";
	if (std::string why = checkCounters(r.incarnation, r.sequence); !why.empty())
		return why;
	if (r.count > kMaxReservedJobs)
		return fmt::format("count {} over {}", r.count, kMaxReservedJobs);
	if (r.ttlMs == 0 || r.ttlMs > kMaxReservationTtlMs)
		return fmt::format("ttl {} ms not in [1, {}]", r.ttlMs, kMaxReservationTtlMs);
	if (r.ageMs > r.ttlMs)
		return "older than its ttl";
	return {};
}

std::string checkDemand(const Demand &d)
{
	if (d.client == 0)
		return "client id 0";
	if (std::string why = checkCounters(d.incarnation, d.sequence); !why.empty())
		return why;
	if (d.ageMs > kMaxAgeMs)
		return fmt::format("age {} ms over {}", d.ageMs, kMaxAgeMs);
	if (d.wanted > kMaxWantedJobs)
		return fmt::format("wanted {} over {}", d.wanted, kMaxWantedJobs);
	if (d.localSlots > kMaxLocalSlots)
		return fmt::format("local slots {} over {}", d.localSlots, kMaxLocalSlots);
	return {};
}

std::string checkLoad(const Load &l)
{
	if (l.server == 0)
		return "server id 0";
	if (l.ageMs > kMaxLoadAgeMs)
		return fmt::format("age {} ms over {}", l.ageMs, kMaxLoadAgeMs);
	if (l.running > 65535)
		return fmt::format("running {} over 65535", l.running);
	if (!(l.runnable >= 0.0 && l.runnable <= 6553.5))
		return "runnable not in [0, 6553.5]";
	return {};
}

std::string checkSpeed(const Speed &s)
{
	if (s.client == 0 || s.server == 0)
		return "id 0";
	if (s.client == s.server)
		return "a client's jobs on itself are not remote";
	if (std::string why = checkCounters(s.incarnation, s.sequence); !why.empty())
		return why;
	if (s.ageMs > kMaxAgeMs)
		return fmt::format("age {} ms over {}", s.ageMs, kMaxAgeMs);
	if (!(s.logTime >= 0.0 && s.logTime <= kMaxSpeedLogTime))
		return fmt::format("log time not in [0, {}]", kMaxSpeedLogTime);
	if (s.jobs < 1 || s.jobs > kMaxSpeedJobs)
		return fmt::format("jobs {} not in [1, {}]", s.jobs, kMaxSpeedJobs);
	return {};
}

std::string checkClients(const Clients &c)
{
	if (c.server == 0)
		return "server id 0";
	if (std::string why = checkCounters(c.incarnation, c.sequence); !why.empty())
		return why;
	if (c.parts < 1 || c.parts > kMaxClientParts || c.part >= c.parts)
		return fmt::format("part {} of {} not in [0, {})", c.part, c.parts, kMaxClientParts);
	if (c.entries.size() > kClientsPerRecord)
		return fmt::format("{} clients over {} in one record", c.entries.size(), kClientsPerRecord);
	if (c.others > kMaxClientJobs)
		return fmt::format("others {} over {}", c.others, kMaxClientJobs);
	if (c.others != 0 && c.part != 0)
		return "others outside part 0";
	for (std::size_t i = 0; i < c.entries.size(); ++i) {
		const ClientEntry &e = c.entries[i];
		if (e.running < 1 || e.running > kMaxClientJobs)
			return fmt::format("client running {} not in [1, {}]", e.running, kMaxClientJobs);
		for (std::size_t j = 0; j < i; ++j)
			if (c.entries[j].address == e.address)
				return "a client named twice";
	}
	return {};
}

std::string checkLocalJobs(const LocalJobs &l)
{
	if (l.client == 0)
		return "client id 0";
	if (std::string why = checkCounters(l.incarnation, l.sequence); !why.empty())
		return why;
	if (l.jobs > kMaxClientJobs)
		return fmt::format("local jobs {} over {}", l.jobs, kMaxClientJobs);
	return {};
}

// Whether @a (16 bytes, IPv4 mapped) is an address other subnets can
// route to: the reason when it is not, empty when it is.
std::string checkRoutable(const std::array<std::uint8_t, 16> &a)
{
	static constexpr std::array<std::uint8_t, 12> kMapped = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (std::equal(kMapped.begin(), kMapped.end(), a.begin())) {
		const std::uint8_t b0 = a[12], b1 = a[13];
		if (b0 == 0)
			return "address in 0.0.0.0/8";
		if (b0 == 127)
			return "loopback address";
		if (b0 == 169 && b1 == 254)
			return "link-local address";
		if (b0 >= 224)
			return "multicast or reserved address";
		return {};
	}
	if (std::all_of(a.begin(), a.begin() + 15, [](std::uint8_t b) { return b == 0; }) && a[15] <= 1)
		return a[15] == 0 ? "unspecified address" : "loopback address";
	if (a[0] == 0xff)
		return "multicast address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local address";
	return {};
}

std::string checkWhere(const Where &w)
{
	if (w.server == 0)
		return "server id 0";
	if (std::string why = checkCounters(w.incarnation, 0); !why.empty())
		return why;
	if (w.port == 0)
		return "port 0";
	return checkRoutable(w.address);
}

std::string checkCookie(const Cookie &c)
{
	return c.value == 0 ? "cookie 0" : std::string{};
}

std::string checkProfile(const Profile &p)
{
	if (p.server == 0)
		return "server id 0";
	return checkCounters(p.incarnation, 0);
}

} // namespace

std::string validate(const Record &record)
{
	return std::visit(
		[](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, Sample>)
				return checkSample(r);
			else if constexpr (std::is_same_v<T, Leave>)
				return checkLeave(r);
			else if constexpr (std::is_same_v<T, Reservation>)
				return checkReservation(r);
			else if constexpr (std::is_same_v<T, Demand>)
				return checkDemand(r);
			else if constexpr (std::is_same_v<T, Cookie>)
				return checkCookie(r);
			else if constexpr (std::is_same_v<T, Profile>)
				return checkProfile(r);
			else if constexpr (std::is_same_v<T, Speed>)
				return checkSpeed(r);
			else if constexpr (std::is_same_v<T, Clients>)
				return checkClients(r);
			else if constexpr (std::is_same_v<T, LocalJobs>)
				return checkLocalJobs(r);
			else if constexpr (std::is_same_v<T, Where>)
				return checkWhere(r);
			else {
				static_assert(std::is_same_v<T, Load>, "a record type without its checks");
				return checkLoad(r);
			}
		},
		record);
}

} // namespace dmdns::wire

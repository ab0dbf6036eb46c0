// Turns the known servers into the hosts line one client should use.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/picker.h"
#include "distcc-mdns/server.h"

namespace dmdns {

struct PlanOptions {
	PickPolicy policy;
	// How the client's compiler (PickPolicy::compiler) must match a
	// server's: by version (default), or exactly, by identity too.
	MatchMode match = MatchMode::Version;
	std::uint32_t localSlots = 2; // localhost/N closes every line
	bool lzo = false;	      // add ,lzo for servers that offer it
	bool cpp = false;	      // add ,cpp (pump) for servers that offer it
	// Remote jobs the client means to run at once (its demand); unset: as
	// many as the farm has slots.
	std::optional<std::uint32_t> want;
	// The other clients' demand (gossip's sum). With this client's want
	// above the slots of the servers, the farm is overloaded and each client
	// gets its fair share; 0: none known, each server offers what is free.
	std::uint64_t othersWanted = 0;
	// The other clients' demands one by one, when known apart (gossip):
	// then they replace othersWanted, and every demand, this client's too,
	// counts at most the slots the farm can use, so that no claim, however
	// large, weighs more than one client asking for the whole farm.
	std::vector<std::uint32_t> othersDemands;
	// This client's own jobs running on each server now (a hosts file
	// rewritten during a build): not others' load. Empty, or one per server.
	std::vector<std::uint32_t> own;
	// Servers this client's distcc recently failed on (its backoff files):
	// distcc itself skips them, so listing them would only hide the slots
	// they cannot give. Empty, or one per server.
	std::vector<bool> failing;
	// This machine's speed, in the unit of Server::speed. A server slower
	// than minSpeed x localSpeed is left out (PickPolicy::minSpeed is set
	// from them), and so is one where the next job would finish later than
	// on this machine's own slots.
	double localSpeed = 1.0;
	double minSpeed = 0.5;
	// The index of this machine's own record, when it is a server too. Its
	// cores are the local slots: the line lists them once, as that remote
	// entry, never also as localhost (planHostsLine() says why).
	std::optional<std::size_t> self;
};

// The policy planHostsLine() picks with: PlanOptions::policy with its
// minimum speed raised to minSpeed x localSpeed and PlanOptions::match.
PickPolicy effectivePolicy(const PlanOptions &options);

// Where localhost goes in the line, from the capacity this machine adds
// (local slots x its speed) against the remote hosts listed (their slots x
// speed, however few of them the line's limits give this client).
enum class LocalPlace : std::uint8_t {
	First,	// at least half the total: the client is the bigger part
	Last,	// a fifth to a half
	Absent, // under a fifth (distcc's advice); never when no remote host is
		// listed, nor when the farm is overloaded (planHostsLine()); always
		// when this machine is listed as a server (PlanOptions::self)
};
LocalPlace placeLocal(double localCapacity, double remoteCapacity) noexcept;

struct PlannedHost {
	std::size_t server; // index into the servers given to planHostsLine()
	Address address;
	std::uint32_t limit;
	// Jobs distcc will send there when the client runs PlanOptions::want
	// remote jobs: what the client reserves on the server.
	std::uint32_t expected = 0;
};

// Why a server is not in the hosts line, one reason per server (the first
// that applies, in this order).
enum class Exclusion : std::uint8_t {
	None,	    // listed: Plan::remote holds its host
	Ineligible, // the picker leaves it out: PlanEntry::ineligible says why
	Duplicate,  // same address and port as PlanEntry::duplicateOf, kept instead
		    // (one distccd advertised twice)
	NoAddress,  // no usable address or port
	Failing,    // this client's distcc recently failed there (PlanOptions::failing)
	Spare,	    // with room, but faster slots hold all the jobs the client wants
	Slower,	    // a job there would finish later than on this machine
	Full,	    // every slot is taken by other clients' running or reserved jobs
	Overloaded, // overloaded farm: its part of this client's fair share is 0
	// Never planned here: a reason read back from another program's view
	// that this one does not know (the view keeps its text).
	Other,
};

// What the plan says about one of the servers given to planHostsLine().
struct PlanEntry {
	Exclusion excluded = Exclusion::None;
	Ineligible ineligible = Ineligible::None; // with Exclusion::Ineligible
	std::size_t duplicateOf = 0;		  // with Exclusion::Duplicate: a server index
};

struct Plan {
	std::vector<PlannedHost> remote; // in the picker's order
	HostsLine line;			 // the hosts, localhost where placeLocal() says
	std::uint32_t jobs = 0;		 // suggested make -j: every limit in the line added up
	// One per server given to planHostsLine(), in the same order.
	std::vector<PlanEntry> servers;
	// Overloaded farm: this client's fair share of the slots, which its
	// limits add up to; 0 when the farm has room for every demand.
	std::uint32_t share = 0;
	LocalPlace local = LocalPlace::Last;
};

// How distcc spreads @jobs over hosts with these limits, listed in line
// order: slot 0 of every host, then slot 1 of every host, and so on.
std::vector<std::uint32_t> fillBreadthFirst(std::span<const std::uint32_t> limits, std::uint32_t jobs);

// Splits @total slots among clients that want @wants (in a fixed order):
// max-min fair, so a client wanting less than an equal part keeps its want
// and the others split the rest; slots an equal split leaves over go one
// each to the first clients still wanting. Never more than a client
// wants, and the parts add up to min(@total, the wants added up).
std::vector<std::uint32_t> splitAmong(std::span<const std::uint32_t> wants, std::uint32_t total);

// Orders the eligible servers with @picker and lists each at its preferred
// address, and says in Plan::servers why each other one is left out.
// Servers without a usable address or port are skipped, and an address and
// port appears at most once. A server's slots count only as far
// as a job there still runs at the minimum speed (jobs beyond its cores
// share them). Each /LIMIT is what the server has free of those: its slots
// minus the jobs others run or reserved there (a load that is unknown
// counts as free). With PlanOptions::want given, the client's jobs take the
// fastest free slots, free cores first, and servers they do not reach are
// left out as spare. When every client's demand together exceeds the slots
// (want + PlanOptions::othersWanted), the limits instead add up to this
// client's fair share, slots x want / all demand, spread over the servers in
// proportion to their compute (cores x speed), each part rounded up with a
// probability equal to its fraction (from @picker), so that one client's make
// -j200 cannot starve the others. Servers left with no slot are skipped as
// full, and so are servers where a job would finish later than on the local
// slots and those PlanOptions::failing marks; neither counts towards the
// farm's slots. localhost goes first, last or nowhere (placeLocal()); it is
// always there when no remote host is, so the line is never empty and never
// makes distcc wait for remote slots only. @reserved, when not empty, holds
// per server the jobs other clients reserved there (see Picker::order).
Plan planHostsLine(std::span<const Server> servers, std::span<const std::uint32_t> reserved,
		   const PlanOptions &options, Picker &picker);

} // namespace dmdns

// Discrete-event scheduling simulator: jobs, servers with slots and speeds, and the policies that place jobs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dmdns::sim {

// One distccd: --jobs slots, each running one job at a time at @speed
// (work units per second); jobs beyond the slots wait in its FIFO backlog.
struct ServerSpec {
	std::uint32_t slots = 1;
	double speed = 1.0;
};

// How the dispatcher knows the jobs in system (running + queued) per server.
struct Information {
	enum class Kind : std::uint8_t {
		Fresh,	  // the true counts at the moment of the choice
		Periodic, // every count refreshed at once every @period (a central board)
		Aged,	  // each count as it was @age ago, drawn per server and choice
	};
	Kind kind = Kind::Fresh;
	double period = 1.0;
	// Aged: lognormal through these two quantiles (the gossip sample-age
	// distribution); equal values give a constant age.
	double ageMedian = 0.5;
	double ageP99 = 1.6;
};

enum class Policy : std::uint8_t {
	Random,	   // uniformly random server
	UniformD2, // reference only: two uniform samples, fewer jobs in system wins
	Picker,	   // the real dmdns::Picker (capacity-weighted d=2 on expected wait)
	LeastWait, // the least expected wait (jobs + 1) / (slots x speed) of all servers
	Stock,	   // distcc: breadth-first over the client's own slot locks, fixed list order
	Randomize, // the same over a list shuffled per job (distcc --randomize)
	// distcc-mdnsd --hosts-file: every lineRefresh each client's line comes
	// from the real planHostsLine() on its aged view, and distcc picks its
	// slots breadth-first over that line's /LIMITs.
	HostsFile,
};

std::string_view policyName(Policy policy) noexcept;

// Job sizes in work units (seconds on a speed-1 server).
struct JobSizes {
	enum class Kind : std::uint8_t {
		Exponential,
		Lognormal
	};
	Kind kind = Kind::Exponential;
	double mean = 1.0;   // Exponential
	double median = 1.0; // Lognormal
	double sigma = 1.0;  // Lognormal: of the underlying normal

	double expected() const noexcept;
};

// Poisson arrivals, each job placed on its own (the supermarket model).
struct OpenWorkload {
	double load = 0.9;     // arrival rate x mean size / total capacity
	double jobs = 200'000; // measured jobs
	double warmupJobs = 20'000;
};

// Clients running builds: @units translation units at make -j@parallel;
// builds start on a per-client schedule (exponential gaps whose mean gives
// @load); a build due while the previous one runs starts when it ends.
struct BuildWorkload {
	std::uint32_t clients = 20;
	std::uint32_t units = 200;
	std::uint32_t parallel = 40;
	double load = 0.9;	  // offered work / total capacity
	double duration = 3000.0; // seconds of builds started and measured
	double warmup = 300.0;	  // builds starting before this are not measured
};

struct Config {
	std::vector<ServerSpec> servers;
	Policy policy = Policy::Picker;
	Information info;
	JobSizes sizes;
	bool openModel = true; // open: OpenWorkload; else BuildWorkload
	OpenWorkload open;
	BuildWorkload builds;
	// Picker: servers with room first (the daemon's default). The
	// supermarket model has every job compete in one group.
	bool roomFirst = true;
	// Picker: count jobs placed after a sample was measured as reserved,
	// the way gossip reservations do (own at once, others' after a gossip
	// delay, covered by a sample measured coverAfter after them).
	bool reservations = false;
	double reservationTtl = 3.0;
	double coverAfter = 1.0;
	double maxSampleAge = 3.0;    // PickPolicy::maxSampleAge, seconds
	double retry = 1.0;	      // distcc's sleep when every own slot is busy
	double lineRefresh = 1.0;     // HostsFile: the daemon's rewrite interval
	std::uint32_t localSlots = 4; // HostsFile: PlanOptions::localSlots (cpus)
	std::uint64_t seed = 1;
	// Above this many jobs in system per slot the run stops as unstable.
	double unstableFactor = 1000.0;
};

struct Result {
	std::size_t jobs = 0; // measured
	double meanJob = 0.0; // from make starting the job (or arrival) to its end
	double p99Job = 0.0;
	double meanWait = 0.0; // before a slot ran it, at the client or the server
	bool unstable = false;
	double endTime = 0.0;
	// Builds only.
	std::size_t builds = 0;
	double meanMakespan = 0.0;
	double p99Makespan = 0.0;
	std::vector<double> clientMakespan; // mean per client
	double jain = 0.0;		    // over 1 / mean makespan per client
	double utilisation = 0.0;	    // busy slot-seconds x speed / capacity, in the window
};

double totalCapacity(const std::vector<ServerSpec> &servers) noexcept;

// Jain's fairness index of @values: 1 when all are equal, 1/n when one has all.
double jain(const std::vector<double> &values) noexcept;

// Nearest-rank quantile of @values (sorted in place); 0 when empty.
double quantile(std::vector<double> &values, double q);

// Runs one configuration; throws std::invalid_argument on a bad one.
Result simulate(const Config &config);

// The farms the benchmark and its test use.
std::vector<ServerSpec> uniformFarm(std::size_t servers, std::uint32_t slots);
std::vector<ServerSpec> mixedSpeedFarm(); // 20 at speed 4 and 80 at speed 1, one slot each
std::vector<ServerSpec> distccFarm();	  // 20 heterogeneous distccd hosts

} // namespace dmdns::sim

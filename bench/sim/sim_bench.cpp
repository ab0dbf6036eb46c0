// sim-bench: scheduling policies side by side on one arrival stream, the published checks and the distcc regime.
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/options.h"
#include "sim/sim.h"

namespace dmdns::sim {
namespace {

using Kind = Information::Kind;

struct Options {
	std::uint64_t seed = 1;
	double jobs = 300'000; // measured per supermarket run
	double duration = 4000.0;
	double warmup = 400.0;
	BuildWorkload builds;
	JobSizes compile{ JobSizes::Kind::Lognormal, 1.0, 1.0, 1.0 };
	double ageMedian = 0.5;
	double ageP99 = 1.6;
	double reportPeriod = 1.0; // of the central-stale scheduler
	std::vector<std::string> sections;
	std::string json;
};

// One measured configuration, for the tables and the JSON.
struct Row {
	std::string section;
	std::string policy; // as the tables name it
	std::string info;
	double x = 0.0; // the swept value: load, refresh period or age
	std::optional<double> published;
	Result result;
};

Config openConfig(std::vector<ServerSpec> farm, Policy policy, double load, const Options &o)
{
	Config c;
	c.servers = std::move(farm);
	c.policy = policy;
	c.openModel = true;
	c.open.load = load;
	c.open.jobs = o.jobs;
	c.open.warmupJobs = o.jobs / 10;
	// The supermarket model: one queue per server, every job in one group.
	c.roomFirst = false;
	c.maxSampleAge = 1e6;
	c.seed = o.seed;
	return c;
}

Information fresh()
{
	return {};
}

Information periodic(double period)
{
	Information i;
	i.kind = Kind::Periodic;
	i.period = period;
	return i;
}

Information aged(double median, double p99)
{
	Information i;
	i.kind = Kind::Aged;
	i.ageMedian = median;
	i.ageP99 = p99;
	return i;
}

std::string describe(const Information &i)
{
	switch (i.kind) {
	case Kind::Fresh:
		return "fresh";
	case Kind::Periodic:
		return fmt::format("refreshed every {:g}", i.period);
	case Kind::Aged:
		return i.ageP99 > i.ageMedian ? fmt::format("aged p50 {:g} p99 {:g}", i.ageMedian, i.ageP99)
					      : fmt::format("{:g} old", i.ageMedian);
	}
	return "?";
}

std::string cell(const Result &r)
{
	if (r.unstable)
		return fmt::format("unstable ({:.0f} jobs in system at t={:.0f})", r.meanJob, r.endTime);
	return fmt::format("{:.3f} / {:.2f}", r.meanJob, r.p99Job);
}

void printOpen(const Row &row)
{
	fmt::print("  {:<24} {:<24} {:>6g}  {:<34} {}\n", row.policy, row.info, row.x, cell(row.result),
		   row.published ? fmt::format("{:g}", *row.published) : std::string("-"));
	std::fflush(stdout);
}

Row runOpen(std::string section, std::string name, Config c, double x, std::optional<double> published)
{
	Row row{ std::move(section), std::move(name), describe(c.info), x, published, simulate(c) };
	if (row.result.unstable)
		row.result.meanJob = static_cast<double>(row.result.jobs); // not a time: shown as such
	printOpen(row);
	return row;
}

void openHeader(std::string_view title)
{
	fmt::print("\n{}\n  {:<24} {:<24} {:>6}  {:<34} {}\n", title, "policy", "information", "x",
		   "mean / p99 time in system", "published mean");
}

void supermarket(const Options &o, std::vector<Row> &rows)
{
	openHeader("supermarket: 100 single-slot servers, Poisson arrivals, exponential jobs of mean 1 (x: load)");
	const std::vector<double> loads{ 0.5, 0.7, 0.8, 0.9, 0.95, 0.99 };
	for (double load : loads) {
		Options heavy = o;
		// Near saturation the queues decorrelate slowly: more jobs.
		if (load > 0.97)
			heavy.jobs *= 10;
		auto pub = [&](double at9, double at99) -> std::optional<double> {
			if (load == 0.9)
				return at9;
			if (load == 0.99)
				return at99;
			return std::nullopt;
		};
		Config random = openConfig(uniformFarm(100, 1), Policy::Random, load, heavy);
		rows.push_back(runOpen("supermarket", "random", random, load, pub(10.0, 100.0)));
		Config d2 = openConfig(uniformFarm(100, 1), Policy::Picker, load, heavy);
		rows.push_back(runOpen("supermarket", "d=2 (dmdns::Picker)", d2, load, pub(2.66, 5.97)));
		Config least = openConfig(uniformFarm(100, 1), Policy::LeastWait, load, heavy);
		rows.push_back(runOpen("supermarket", "least loaded", least, load, pub(1.07, 2.10)));
	}
}

void stale(const Options &o, std::vector<Row> &rows)
{
	openHeader("stale: the same at load 0.9, every load refreshed at once every T job-times (x: T)");
	const std::vector<std::pair<double, std::pair<double, double>>> periods{
		{ 0.1, { 2.70, 1.55 } }, { 1.0, { 2.96, 4.01 } }, { 5.0, { 4.02, 12.3 } }, { 20.0, { 7.01, 58.0 } }
	};
	for (const auto &[period, pub] : periods) {
		Config d2 = openConfig(uniformFarm(100, 1), Policy::Picker, 0.9, o);
		d2.info = periodic(period);
		rows.push_back(runOpen("stale", "d=2 (dmdns::Picker)", d2, period, pub.first));
		Config least = openConfig(uniformFarm(100, 1), Policy::LeastWait, 0.9, o);
		least.info = periodic(period);
		rows.push_back(runOpen("stale", "least loaded", least, period, pub.second));
	}
	Config random = openConfig(uniformFarm(100, 1), Policy::Random, 0.9, o);
	rows.push_back(runOpen("stale", "random", random, 0.0, 10.0));
}

void mixed(const Options &o, std::vector<Row> &rows)
{
	openHeader("mixed speeds: 20 servers at speed 4 and 80 at speed 1, one slot each, load 0.9 of capacity");
	Config uniform = openConfig(mixedSpeedFarm(), Policy::UniformD2, 0.9, o);
	// Its queues grow without bound: stop once they hold 50 jobs per slot.
	uniform.unstableFactor = 50.0;
	rows.push_back(runOpen("mixed", "uniform d=2 (reference)", uniform, 0.9, std::nullopt));
	Config weighted = openConfig(mixedSpeedFarm(), Policy::Picker, 0.9, o);
	rows.push_back(runOpen("mixed", "d=2 (dmdns::Picker)", weighted, 0.9, 1.84));
	Config least = openConfig(mixedSpeedFarm(), Policy::LeastWait, 0.9, o);
	rows.push_back(runOpen("mixed", "least wait", least, 0.9, std::nullopt));
}

void slots(const Options &o, std::vector<Row> &rows)
{
	openHeader("slots: 20 servers x 8 slots, load 0.9, exponential jobs (x: refresh period or age of the loads)");
	rows.push_back(runOpen("slots", "random", openConfig(uniformFarm(20, 8), Policy::Random, 0.9, o), 0.0, 1.88));
	rows.push_back(runOpen("slots", "d=2 (dmdns::Picker)", openConfig(uniformFarm(20, 8), Policy::Picker, 0.9, o),
			       0.0, 1.07));
	// "Loads T job-times old" as published is a board refreshed every T;
	// every load exactly T old is the harsher reading.
	for (const auto &[period, pub] : std::vector<std::pair<double, double>>{ { 1.0, 1.25 }, { 5.0, 1.93 } }) {
		Config d2 = openConfig(uniformFarm(20, 8), Policy::Picker, 0.9, o);
		d2.info = periodic(period);
		rows.push_back(runOpen("slots", "d=2 (dmdns::Picker)", d2, period, pub));
	}
	for (double age : { 1.0, 5.0 }) {
		Config d2 = openConfig(uniformFarm(20, 8), Policy::Picker, 0.9, o);
		d2.info = aged(age, age);
		rows.push_back(runOpen("slots", "d=2 (dmdns::Picker)", d2, age, std::nullopt));
	}
	Config least = openConfig(uniformFarm(20, 8), Policy::LeastWait, 0.9, o);
	rows.push_back(runOpen("slots", "least loaded", least, 0.0, std::nullopt));
}

// The five policies of the distcc regime, configured as the tables name them.
struct DistccPolicy {
	std::string name;
	Policy policy;
	Information info;
	bool reservations = false;
};

std::vector<DistccPolicy> distccPolicies(const Options &o)
{
	return {
		{ "stock", Policy::Stock, fresh(), false },
		{ "randomize", Policy::Randomize, fresh(), false },
		{ "central-stale", Policy::LeastWait, periodic(o.reportPeriod), false },
		{ "distcc-mdns", Policy::Picker, aged(o.ageMedian, o.ageP99), true },
		{ "distcc-mdns-file", Policy::HostsFile, aged(o.ageMedian, o.ageP99), false },
		{ "omniscient", Policy::LeastWait, fresh(), false },
	};
}

Config distccConfig(const DistccPolicy &p, double load, const Options &o)
{
	Config c;
	c.servers = distccFarm();
	c.policy = p.policy;
	c.info = p.info;
	c.reservations = p.reservations;
	c.sizes = o.compile;
	c.openModel = false;
	c.builds = o.builds;
	c.builds.load = load;
	c.builds.duration = o.duration;
	c.builds.warmup = o.warmup;
	c.seed = o.seed;
	return c;
}

void distccHeader(std::string_view title)
{
	fmt::print("\n{}\n  {:<21} {:<24} {:>5} {:>8} {:>8} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6}\n", title, "policy",
		   "information", "x", "job mean", "job p99", "make mean", "make p99", "Jain", "util", "builds",
		   "ratio");
}

void distccRows(const std::string &section, double load, double x, const std::vector<DistccPolicy> &policies,
		const Options &o, std::vector<Row> &rows)
{
	std::vector<Row> here;
	for (const DistccPolicy &p : policies) {
		const Config c = distccConfig(p, load, o);
		here.push_back(Row{ section, p.name, describe(c.info), x, std::nullopt, simulate(c) });
	}
	double ideal = 0.0;
	for (const Row &row : here)
		if (row.policy == "omniscient")
			ideal = row.result.meanJob;
	for (const Row &row : here) {
		const Result &r = row.result;
		fmt::print("  {:<21} {:<24} {:>5g} {:>8.3f} {:>8.2f} {:>9.2f} {:>9.2f} {:>6.3f} {:>6.3f} {:>7} {:>6}{}\n",
			   row.policy, row.info, x, r.meanJob, r.p99Job, r.meanMakespan, r.p99Makespan, r.jain,
			   r.utilisation, r.builds, ideal > 0.0 ? fmt::format("{:.3f}", r.meanJob / ideal) : "-",
			   r.unstable ? "  UNSTABLE" : "");
		rows.push_back(row);
	}
	std::fflush(stdout);
}

std::string regime(const Options &o)
{
	return fmt::format("{} clients, builds of {} units at make -j{}, lognormal compile times (median {:g} s, "
			   "sigma {:g}, mean {:.2f} s) on the 20-server farm (4x16 slots speed 2, 8x8 speed 1, "
			   "6x4 speed 0.6, 2x4 speed 1.2: 160 slots, capacity {:g}); {:g} s, first {:g} s not measured",
			   o.builds.clients, o.builds.units, o.builds.parallel, o.compile.median, o.compile.sigma,
			   o.compile.expected(), totalCapacity(distccFarm()), o.duration, o.warmup);
}

void distcc(const Options &o, std::vector<Row> &rows)
{
	distccHeader("distcc regime at load " + fmt::format("{:g}", o.builds.load) + ": " + regime(o));
	distccRows("distcc", o.builds.load, o.builds.load, distccPolicies(o), o, rows);
}

void parallel(const Options &o, std::vector<Row> &rows)
{
	distccHeader(fmt::format("distcc regime at load {:g} by make -j (x: -j)", o.builds.load));
	for (std::uint32_t j : { 10u, 20u, 40u, 80u }) {
		Options with = o;
		with.builds.parallel = j;
		distccRows("parallel", o.builds.load, j, distccPolicies(with), with, rows);
	}
}

void loads(const Options &o, std::vector<Row> &rows)
{
	distccHeader("distcc regime by load (x: load)");
	for (double load : { 0.5, 0.7, 0.8, 0.9, 0.95 })
		distccRows("loads", load, load, distccPolicies(o), o, rows);
}

void ages(const Options &o, std::vector<Row> &rows)
{
	distccHeader(fmt::format("distcc-mdns by gossip age at load {:g} (x: median age; p99 = 3.2 x median), "
				 "central-stale by report period (x: period)",
				 o.builds.load));
	for (double median : { 0.1, 0.25, 0.5, 1.0, 2.0 }) {
		DistccPolicy p{ "distcc-mdns", Policy::Picker, aged(median, median * 3.2), true };
		DistccPolicy bare{ "distcc-mdns-noreserve", Policy::Picker, aged(median, median * 3.2), false };
		distccRows("ages", o.builds.load, median, { p, bare }, o, rows);
	}
	for (double period : { 0.25, 1.0, 3.0, 10.0 })
		distccRows("ages", o.builds.load, period, { { "central-stale", Policy::LeastWait, periodic(period) } }, o,
			   rows);
}

using Section = void (*)(const Options &, std::vector<Row> &);

// In the order a full run takes them.
const std::vector<std::pair<std::string_view, Section>> kSections{
	{ "supermarket", supermarket },
	{ "stale", stale },
	{ "mixed", mixed },
	{ "slots", slots },
	{ "distcc", distcc },
	{ "parallel", parallel },
	{ "loads", loads },
	{ "ages", ages },
};

std::optional<Section> findSection(std::string_view name)
{
	for (const auto &[known, section] : kSections)
		if (known == name)
			return section;
	return std::nullopt;
}

nlohmann::json toJson(const Row &row)
{
	const Result &r = row.result;
	nlohmann::json j{
		{ "section", row.section },
		{ "policy", row.policy },
		{ "info", row.info },
		{ "x", row.x },
		{ "jobs", r.jobs },
		{ "mean", r.meanJob },
		{ "p99", r.p99Job },
		{ "wait", r.meanWait },
		{ "unstable", r.unstable },
		{ "end", r.endTime },
	};
	j["published"] = row.published ? nlohmann::json(*row.published) : nlohmann::json();
	if (r.builds > 0) {
		j["builds"] = r.builds;
		j["makespan"] = r.meanMakespan;
		j["makespanP99"] = r.p99Makespan;
		j["clientMakespan"] = r.clientMakespan;
		j["jain"] = r.jain;
		j["utilisation"] = r.utilisation;
	}
	return j;
}

void usage(std::FILE *out)
{
	std::fputs(
		"Usage: sim-bench [OPTION]...\n"
		"Compare job placement policies on one arrival stream in a discrete-event simulator that drives\n"
		"the core dmdns::Picker: the published supermarket checks, then the distcc regime.\n"
		"\n"
		"  --sections=LIST      of supermarket, stale, mixed, slots, distcc, parallel, loads,\n"
		"                       ages [all]\n"
		"  --jobs=N             measured jobs per supermarket run [300000]\n"
		"  --duration=S         virtual seconds of builds per distcc run [4000]\n"
		"  --warmup=S           of them not measured [400]\n"
		"  --clients=N          building clients [20]\n"
		"  --units=N            translation units per build [200]\n"
		"  -j, --parallel=N     make -j of every client [40]\n"
		"  --load=X             offered work / capacity of the distcc regime [0.9]\n"
		"  --compile-median=S   lognormal compile time at speed 1 [1]\n"
		"  --compile-sigma=X    its shape: 1 gives p99 about 10x the median [1]\n"
		"  --age-median=S       gossip sample age of distcc-mdns, median [0.5]\n"
		"  --age-p99=S          and 99th percentile [1.6]\n"
		"  --report-period=S    how often central-stale's reports arrive [1]\n"
		"  --seed=N             of arrivals, sizes and choices [1]\n"
		"  --json=FILE          write every measured row there\n"
		"  -h, --help           show this help and exit\n"
		"\n"
		"Exits 0 whatever the numbers, 1 on an internal error, 2 on a usage error.\n",
		out);
}

Options parse(int argc, char **argv)
{
	enum {
		OptSections = 0x100,
		OptJobs,
		OptDuration,
		OptWarmup,
		OptClients,
		OptUnits,
		OptLoad,
		OptCompileMedian,
		OptCompileSigma,
		OptAgeMedian,
		OptAgeP99,
		OptReportPeriod,
		OptSeed,
		OptJson,
	};
	static const option longOptions[] = {
		{ "sections", required_argument, nullptr, OptSections },
		{ "jobs", required_argument, nullptr, OptJobs },
		{ "duration", required_argument, nullptr, OptDuration },
		{ "warmup", required_argument, nullptr, OptWarmup },
		{ "clients", required_argument, nullptr, OptClients },
		{ "units", required_argument, nullptr, OptUnits },
		{ "parallel", required_argument, nullptr, 'j' },
		{ "load", required_argument, nullptr, OptLoad },
		{ "compile-median", required_argument, nullptr, OptCompileMedian },
		{ "compile-sigma", required_argument, nullptr, OptCompileSigma },
		{ "age-median", required_argument, nullptr, OptAgeMedian },
		{ "age-p99", required_argument, nullptr, OptAgeP99 },
		{ "report-period", required_argument, nullptr, OptReportPeriod },
		{ "seed", required_argument, nullptr, OptSeed },
		{ "json", required_argument, nullptr, OptJson },
		{ "help", no_argument, nullptr, 'h' },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	cli::Parser cli("sim-bench");
	for (int c; (c = getopt_long(argc, argv, "hj:", longOptions, nullptr)) != -1;) {
		switch (c) {
		case OptSections:
			for (std::string_view rest(optarg); !rest.empty();) {
				const std::string_view item = rest.substr(0, rest.find(','));
				rest.remove_prefix(std::min(rest.size(), item.size() + 1));
				if (!findSection(item))
					cli.fail("unknown section '{}' (supermarket, stale, mixed, slots, distcc, "
						 "parallel, loads, ages)",
						 item);
				o.sections.emplace_back(item);
			}
			break;
		case OptJobs:
			o.jobs = static_cast<double>(cli.integer("--jobs", optarg, 1000, 100'000'000));
			break;
		case OptDuration:
			o.duration = cli.decimal("--duration", optarg, 10.0, 1e7);
			break;
		case OptWarmup:
			o.warmup = cli.decimal("--warmup", optarg, 0.0, 1e7);
			break;
		case OptClients:
			o.builds.clients = static_cast<std::uint32_t>(cli.integer("--clients", optarg, 1, 1000));
			break;
		case OptUnits:
			o.builds.units = static_cast<std::uint32_t>(cli.integer("--units", optarg, 1, 100'000));
			break;
		case 'j':
			o.builds.parallel = static_cast<std::uint32_t>(cli.integer("--parallel", optarg, 1, 10'000));
			break;
		case OptLoad:
			o.builds.load = cli.decimal("--load", optarg, 0.01, 1.5);
			break;
		case OptCompileMedian:
			o.compile.median = cli.decimal("--compile-median", optarg, 0.001, 1000.0);
			break;
		case OptCompileSigma:
			o.compile.sigma = cli.decimal("--compile-sigma", optarg, 0.01, 3.0);
			break;
		case OptAgeMedian:
			o.ageMedian = cli.decimal("--age-median", optarg, 0.001, 60.0);
			break;
		case OptAgeP99:
			o.ageP99 = cli.decimal("--age-p99", optarg, 0.001, 600.0);
			break;
		case OptReportPeriod:
			o.reportPeriod = cli.decimal("--report-period", optarg, 0.001, 3600.0);
			break;
		case OptSeed:
			o.seed = static_cast<std::uint64_t>(cli.integer("--seed", optarg, 0, INT64_MAX));
			break;
		case OptJson:
			o.json = optarg;
			break;
		case 'h':
			usage(stdout);
			std::exit(EXIT_SUCCESS);
		default:
			cli.tryHelp();
		}
	}
	if (optind < argc)
		cli.fail("unexpected argument '{}'", argv[optind]);
	if (o.ageP99 < o.ageMedian)
		cli.fail("--age-p99 {} is below --age-median {}", o.ageP99, o.ageMedian);
	if (o.warmup >= o.duration)
		cli.fail("--warmup {} leaves nothing of --duration {}", o.warmup, o.duration);
	if (o.sections.empty())
		for (const auto &[name, section] : kSections)
			o.sections.emplace_back(name);
	return o;
}

int run(int argc, char **argv)
{
	const Options o = parse(argc, argv);
	const auto began = std::chrono::steady_clock::now();
	fmt::print("sim-bench: seed {}; job time = from make starting the job (or its arrival) to its end; "
		   "cells: mean / p99\n",
		   o.seed);
	std::vector<Row> rows;
	for (const std::string &name : o.sections)
		(*findSection(name))(o, rows);
	const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
	fmt::print("\nwall {:.1f} s\n", wall);
	if (!o.json.empty()) {
		nlohmann::json out{
			{ "seed", o.seed },
			{ "jobs", o.jobs },
			{ "duration", o.duration },
			{ "warmup", o.warmup },
			{ "clients", o.builds.clients },
			{ "units", o.builds.units },
			{ "parallel", o.builds.parallel },
			{ "load", o.builds.load },
			{ "compileMedian", o.compile.median },
			{ "compileSigma", o.compile.sigma },
			{ "compileMean", o.compile.expected() },
			{ "ageMedian", o.ageMedian },
			{ "ageP99", o.ageP99 },
			{ "reportPeriod", o.reportPeriod },
			{ "regime", regime(o) },
			{ "wallSeconds", wall },
		};
		nlohmann::json list = nlohmann::json::array();
		for (const Row &row : rows)
			list.push_back(toJson(row));
		out["rows"] = std::move(list);
		std::ofstream file(o.json);
		file << out.dump(1) << '\n';
		if (!file.flush())
			throw std::runtime_error("cannot write " + o.json);
	}
	return EXIT_SUCCESS;
}

} // namespace
} // namespace dmdns::sim

int main(int argc, char **argv)
{
	try {
		return dmdns::sim::run(argc, argv);
	} catch (const std::exception &e) {
		std::fflush(stdout);
		fmt::print(stderr, "sim-bench: internal error: {}\n", e.what());
		return EXIT_FAILURE;
	}
}

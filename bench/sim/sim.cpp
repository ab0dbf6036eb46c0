// Discrete-event scheduling simulator: jobs, servers with slots and speeds, and the policies that place jobs.
#include "sim/sim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "distcc-mdns/picker.h"
#include "distcc-mdns/plan.h"
#include "distcc-mdns/server.h"

namespace dmdns::sim {

std::string_view policyName(Policy policy) noexcept
{
	switch (policy) {
	case Policy::Random:
		return "random";
	case Policy::UniformD2:
		return "uniform-d2";
	case Policy::Picker:
		return "picker";
	case Policy::LeastWait:
		return "least-wait";
	case Policy::Stock:
		return "stock";
	case Policy::Randomize:
		return "randomize";
	case Policy::HostsFile:
		return "hosts-file";
	}
	return "unknown";
}

double JobSizes::expected() const noexcept
{
	return kind == Kind::Exponential ? mean : median * std::exp(sigma * sigma / 2.0);
}

double totalCapacity(const std::vector<ServerSpec> &servers) noexcept
{
	double total = 0.0;
	for (const ServerSpec &s : servers)
		total += s.slots * s.speed;
	return total;
}

double jain(const std::vector<double> &values) noexcept
{
	double sum = 0.0, squares = 0.0;
	for (double v : values) {
		sum += v;
		squares += v * v;
	}
	return squares > 0.0 ? sum * sum / (static_cast<double>(values.size()) * squares) : 0.0;
}

double quantile(std::vector<double> &values, double q)
{
	if (values.empty())
		return 0.0;
	const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
	const std::size_t k = std::clamp<std::size_t>(rank, 1, values.size()) - 1;
	std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
	return values[k];
}

std::vector<ServerSpec> uniformFarm(std::size_t servers, std::uint32_t slots)
{
	return std::vector<ServerSpec>(servers, ServerSpec{ slots, 1.0 });
}

std::vector<ServerSpec> mixedSpeedFarm()
{
	std::vector<ServerSpec> farm(20, ServerSpec{ 1, 4.0 });
	farm.resize(100, ServerSpec{ 1, 1.0 });
	return farm;
}

std::vector<ServerSpec> distccFarm()
{
	// Build boxes, ordinary servers, old slow machines and two desktops
	// lending their cores; interleaved so that no list order is the
	// capacity order by accident.
	std::vector<ServerSpec> farm;
	for (int i = 0; i < 2; ++i) {
		farm.push_back({ 16, 2.0 });
		farm.push_back({ 8, 1.0 });
		farm.push_back({ 4, 0.6 });
		farm.push_back({ 8, 1.0 });
		farm.push_back({ 16, 2.0 });
		farm.push_back({ 4, 0.6 });
		farm.push_back({ 8, 1.0 });
		farm.push_back({ 4, 0.6 });
		farm.push_back({ 8, 1.0 });
		farm.push_back({ 4, 1.2 });
	}
	return farm;
}

namespace {

constexpr std::uint32_t kNoClient = std::numeric_limits<std::uint32_t>::max();

struct Job {
	double start = 0.0; // make started it (or it arrived)
	double work = 0.0;
	std::uint32_t client = kNoClient;
	std::uint32_t slot = 0; // the client's lock on its server (stock, randomize)
	bool measured = false;
};

struct Event {
	enum class Kind : std::uint8_t {
		Arrival,
		Done,
		BuildDue,
		Retry,
		Refresh
	};
	double time;
	std::uint64_t seq; // equal times run in the order they were scheduled
	Kind kind;
	std::uint32_t index; // server (Done) or client (BuildDue)
	Job job;

	bool operator>(const Event &other) const noexcept
	{
		return time != other.time ? time > other.time : seq > other.seq;
	}
};

// A job placed on a server, as gossip reservations see it.
struct Dispatch {
	double time;
	double visibleAt; // to the other clients
	std::uint32_t client;
};

struct ServerState {
	std::uint32_t busy = 0;
	std::uint32_t inSystem = 0;
	std::deque<Job> backlog;
	// (time, jobs in system from then on), oldest first from @first.
	std::vector<std::pair<double, std::uint32_t>> history{ { -1e300, 0 } };
	std::size_t first = 0;
	std::deque<Dispatch> dispatches;
};

struct ClientState {
	std::mt19937_64 rng;
	std::vector<std::vector<bool>> locks; // per server, per slot
	std::vector<double> sizes;	      // of the current build, in make's order
	std::size_t next = 0;		      // the next unit make starts
	std::uint32_t running = 0;
	bool building = false;
	bool measured = false;
	double buildStart = 0.0;
	double due = 0.0; // of the next build
	std::vector<double> makespans;
	// HostsFile: the line distcc reads, (server, /LIMIT) in order.
	std::vector<std::pair<std::size_t, std::uint32_t>> line;
	double lineTime = -1e300;
};

class Simulation final
{
public:
	explicit Simulation(const Config &config);
	Result run();

private:
	void schedule(double time, Event::Kind kind, std::uint32_t index, const Job &job = {});
	double drawSize(std::mt19937_64 &rng);
	double drawAge();
	std::uint32_t countAt(std::size_t server, double time) const;
	// Jobs in system the dispatcher believes for @server, and how old that is.
	std::pair<std::uint32_t, double> view(std::size_t server);
	std::uint32_t reservedFor(std::size_t server, std::uint32_t client, double sampleTime);

	void arrive(Job job);
	void dispatch(Job job);
	std::optional<std::size_t> choose(std::uint32_t client);
	std::optional<std::pair<std::size_t, std::uint32_t>> lockSlot(std::uint32_t client);
	void writeLine(std::uint32_t client);
	bool slotPolicy() const noexcept;
	void place(Job job, std::size_t server);
	void start(Job job, std::size_t server);
	void finish(std::size_t server, const Job &job);
	void startBuild(std::uint32_t client);
	void startUnit(std::uint32_t client);
	void record(std::size_t server);
	bool overloaded() const;
	bool done() const;

	Config c_;
	double capacity_;
	double now_ = 0.0;
	std::uint64_t seq_ = 0;
	std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
	std::mt19937_64 arrivals_, policyRng_, infoRng_;
	Picker picker_;
	std::vector<Server> records_; // what the Picker reads
	std::vector<std::uint32_t> reserved_;
	std::vector<ServerState> servers_;
	std::vector<std::uint32_t> board_; // Periodic
	double boardTime_ = 0.0;
	std::vector<std::size_t> listOrder_; // stock distcc's hosts line
	std::vector<ClientState> clients_;
	std::uint32_t totalSlots_ = 0;
	std::uint32_t inSystem_ = 0;
	double ageMu_ = 0.0, ageSigma_ = 0.0, ageCap_ = 0.0, lookback_ = 0.0;

	// Open model.
	double arrivalRate_ = 0.0;
	std::uint64_t arrived_ = 0, toArrive_ = 0, warmupJobs_ = 0;
	std::uint64_t measuredLeft_ = 0;
	// Builds.
	double buildGap_ = 0.0;
	std::uint32_t activeBuilds_ = 0;

	std::vector<double> jobTimes_, waits_;
	std::vector<double> makespans_;
	double measuredWork_ = 0.0, firstMeasured_ = 1e300, lastMeasured_ = 0.0;
	bool unstable_ = false;
};

Simulation::Simulation(const Config &config)
	: c_(config), capacity_(totalCapacity(config.servers)), arrivals_(config.seed * 3 + 1),
	  policyRng_(config.seed * 3 + 2), infoRng_(config.seed * 3 + 3), picker_(config.seed * 7 + 5)
{
	if (c_.servers.empty() || !(capacity_ > 0.0))
		throw std::invalid_argument("no servers or no capacity");
	for (const ServerSpec &s : c_.servers)
		if (s.slots == 0 || !(s.speed > 0.0))
			throw std::invalid_argument("a server without slots or speed");
	const std::size_t n = c_.servers.size();
	servers_.resize(n);
	reserved_.assign(n, 0);
	board_.assign(n, 0);
	records_.resize(n);
	for (std::size_t i = 0; i < n; ++i) {
		records_[i].slots = c_.servers[i].slots;
		records_[i].speed = c_.servers[i].speed;
		records_[i].sample.emplace();
		records_[i].cpus = c_.servers[i].slots;
		records_[i].id = "server" + std::to_string(i);
		// planHostsLine() lists servers by address, one per address.
		records_[i].addresses.push_back(
			*Address::parse("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)));
		totalSlots_ += c_.servers[i].slots;
	}
	const Information &info = c_.info;
	if (info.kind == Information::Kind::Aged) {
		if (!(info.ageMedian >= 0.0) || info.ageP99 < info.ageMedian ||
		    (info.ageMedian == 0.0 && info.ageP99 > 0.0))
			throw std::invalid_argument("age quantiles out of order");
		ageMu_ = std::log(std::max(info.ageMedian, 1e-9));
		// 2.326: the 99th percentile of the standard normal.
		ageSigma_ = info.ageP99 > info.ageMedian ? std::log(info.ageP99 / info.ageMedian) / 2.3263 : 0.0;
		ageCap_ = std::max(info.ageMedian, info.ageP99 * 4.0);
		lookback_ = ageCap_ + 1.0;
	}
	const JobSizes &sizes = c_.sizes;
	if (sizes.kind == JobSizes::Kind::Exponential ? !(sizes.mean > 0.0)
						      : !(sizes.median > 0.0) || !(sizes.sigma > 0.0))
		throw std::invalid_argument("job sizes need a positive mean, or median and sigma");
	if (info.kind == Information::Kind::Periodic && !(info.period > 0.0))
		throw std::invalid_argument("refresh period must be positive");
	listOrder_.resize(n);
	std::iota(listOrder_.begin(), listOrder_.end(), std::size_t{ 0 });
}

void Simulation::schedule(double time, Event::Kind kind, std::uint32_t index, const Job &job)
{
	events_.push(Event{ time, seq_++, kind, index, job });
}

double Simulation::drawSize(std::mt19937_64 &rng)
{
	const JobSizes &s = c_.sizes;
	if (s.kind == JobSizes::Kind::Exponential)
		return std::exponential_distribution<double>(1.0 / s.mean)(rng);
	return std::lognormal_distribution<double>(std::log(s.median), s.sigma)(rng);
}

double Simulation::drawAge()
{
	if (ageSigma_ == 0.0)
		return c_.info.ageMedian;
	const double age = std::lognormal_distribution<double>(ageMu_, ageSigma_)(infoRng_);
	return std::min(age, ageCap_);
}

std::uint32_t Simulation::countAt(std::size_t server, double time) const
{
	const ServerState &s = servers_[server];
	const auto begin = s.history.begin() + static_cast<std::ptrdiff_t>(s.first);
	auto it = std::upper_bound(begin, s.history.end(), time,
				   [](double t, const std::pair<double, std::uint32_t> &h) { return t < h.first; });
	// Before the oldest change kept: the oldest value is the best known.
	return it == begin ? begin->second : std::prev(it)->second;
}

std::pair<std::uint32_t, double> Simulation::view(std::size_t server)
{
	switch (c_.info.kind) {
	case Information::Kind::Fresh:
		break;
	case Information::Kind::Periodic:
		return { board_[server], now_ - boardTime_ };
	case Information::Kind::Aged: {
		const double age = drawAge();
		return { countAt(server, now_ - age), age };
	}
	}
	return { servers_[server].inSystem, 0.0 };
}

std::uint32_t Simulation::reservedFor(std::size_t server, std::uint32_t client, double sampleTime)
{
	std::deque<Dispatch> &d = servers_[server].dispatches;
	while (!d.empty() && d.front().time < now_ - c_.reservationTtl)
		d.pop_front();
	std::uint32_t count = 0;
	for (const Dispatch &x : d) {
		const bool visible = x.client == client || x.visibleAt <= now_;
		// A sample measured long enough after the job covers it.
		if (visible && sampleTime < x.time + c_.coverAfter)
			++count;
	}
	return count;
}

std::optional<std::size_t> Simulation::choose(std::uint32_t client)
{
	const std::size_t n = c_.servers.size();
	std::uniform_int_distribution<std::size_t> any(0, n - 1);
	switch (c_.policy) {
	case Policy::Random:
		return any(policyRng_);
	case Policy::UniformD2: {
		const std::size_t a = any(policyRng_);
		std::size_t b = std::uniform_int_distribution<std::size_t>(0, n - 2)(policyRng_);
		if (b >= a)
			++b;
		return view(b).first < view(a).first ? b : a;
	}
	case Policy::Picker: {
		for (std::size_t i = 0; i < n; ++i) {
			const auto [count, age] = view(i);
			LoadSample &sample = *records_[i].sample;
			sample.running = count;
			sample.age = std::chrono::milliseconds(std::llround(age * 1000.0));
			if (c_.reservations)
				reserved_[i] = reservedFor(i, client, now_ - age);
		}
		PickPolicy policy;
		policy.maxSampleAge = std::chrono::milliseconds(std::llround(c_.maxSampleAge * 1000.0));
		policy.roomFirst = c_.roomFirst;
		const std::span<const std::uint32_t> reserved =
			c_.reservations ? std::span<const std::uint32_t>(reserved_) : std::span<const std::uint32_t>();
		if (auto pick = picker_.pick(records_, reserved, policy))
			return *pick;
		return any(policyRng_); // every sample too old: nothing to go by
	}
	case Policy::LeastWait: {
		// The Picker's expected wait, (jobs + 1) / (slots x speed), over
		// every server. It beats "earliest finish of this job" (queue
		// ahead / capacity + 1 / speed) on mean job time in the distcc
		// regime: that one crowds the fast servers and leaves slow slots idle.
		std::size_t best = 0, ties = 0;
		double bestWait = std::numeric_limits<double>::infinity();
		for (std::size_t i = 0; i < n; ++i) {
			const ServerSpec &s = c_.servers[i];
			const double wait = (view(i).first + 1.0) / (s.slots * s.speed);
			if (wait < bestWait) {
				bestWait = wait;
				best = i;
				ties = 1;
			} else if (wait == bestWait &&
				   std::uniform_int_distribution<std::size_t>(0, ties++)(policyRng_) == 0) {
				best = i; // uniform among the ties, one pass
			}
		}
		return best;
	}
	case Policy::Stock:
	case Policy::Randomize:
	case Policy::HostsFile:
		break;
	}
	throw std::logic_error("slot policies do not choose servers");
}

bool Simulation::slotPolicy() const noexcept
{
	return c_.policy == Policy::Stock || c_.policy == Policy::Randomize || c_.policy == Policy::HostsFile;
}

void Simulation::writeLine(std::uint32_t client)
{
	ClientState &cl = clients_[client];
	PlanOptions options;
	options.localSlots = c_.localSlots;
	options.own.assign(c_.servers.size(), 0);
	for (std::size_t i = 0; i < c_.servers.size(); ++i) {
		const auto [count, age] = view(i);
		LoadSample &sample = *records_[i].sample;
		sample.running = count;
		sample.age = std::chrono::milliseconds(std::llround(age * 1000.0));
		options.own[i] = static_cast<std::uint32_t>(std::count(cl.locks[i].begin(), cl.locks[i].end(), true));
	}
	// The demand gossip spreads: every other client in a build asks for
	// its make -j.
	for (std::uint32_t other = 0; other < clients_.size(); ++other)
		if (other != client && clients_[other].building)
			options.othersWanted += c_.builds.parallel;
	options.policy.maxSampleAge = std::chrono::milliseconds(std::llround(c_.maxSampleAge * 1000.0));
	// The daemon plans the file with one seed per client: the order
	// changes when the farm does, not at every rewrite.
	Picker picker(c_.seed * 7919 + client);
	const Plan plan = planHostsLine(records_, {}, options, picker);
	cl.line.clear();
	for (const PlannedHost &host : plan.remote)
		cl.line.emplace_back(host.server, host.limit);
	cl.lineTime = now_;
}

std::optional<std::pair<std::size_t, std::uint32_t>> Simulation::lockSlot(std::uint32_t client)
{
	// dcc_lock_one: slot 0 of every host in list order, then slot 1, ...
	// over this client's own lock files. A static line gives every server
	// its slots as /LIMIT (what an administrator writes).
	ClientState &cl = clients_[client];
	std::vector<std::pair<std::size_t, std::uint32_t>> line;
	if (c_.policy == Policy::HostsFile) {
		// distcc reads the file for every compile; the daemon rewrites it.
		if (now_ - cl.lineTime >= c_.lineRefresh)
			writeLine(client);
		line = cl.line;
	} else {
		for (std::size_t host : listOrder_)
			line.emplace_back(host, c_.servers[host].slots);
		if (c_.policy == Policy::Randomize)
			std::shuffle(line.begin(), line.end(), policyRng_);
	}
	std::uint32_t widest = 0;
	for (const auto &[host, limit] : line)
		widest = std::max(widest, limit);
	for (std::uint32_t slot = 0; slot < widest; ++slot)
		for (const auto &[host, limit] : line)
			// A line can list more than the server's slots; the locks
			// are files, so there is no end to them either.
			if (slot < limit) {
				std::vector<bool> &locks = cl.locks[host];
				if (locks.size() <= slot)
					locks.resize(slot + 1, false);
				if (!locks[slot]) {
					locks[slot] = true;
					return std::pair{ host, slot };
				}
			}
	return std::nullopt;
}

void Simulation::record(std::size_t server)
{
	ServerState &s = servers_[server];
	if (c_.info.kind != Information::Kind::Aged)
		return;
	s.history.emplace_back(now_, s.inSystem);
	// Forget what no age reaches, keeping the value in force before then.
	if (s.history.size() - s.first > 64) {
		while (s.first + 1 < s.history.size() && s.history[s.first + 1].first <= now_ - lookback_)
			++s.first;
		if (s.first > s.history.size() / 2) {
			s.history.erase(s.history.begin(), s.history.begin() + static_cast<std::ptrdiff_t>(s.first));
			s.first = 0;
		}
	}
}

void Simulation::place(Job job, std::size_t server)
{
	ServerState &s = servers_[server];
	if (c_.reservations)
		s.dispatches.push_back({ now_, now_ + drawAge(), job.client });
	++s.inSystem;
	++inSystem_;
	record(server);
	if (s.busy < c_.servers[server].slots)
		start(job, server);
	else
		s.backlog.push_back(job);
}

void Simulation::start(Job job, std::size_t server)
{
	++servers_[server].busy;
	if (job.measured)
		waits_.push_back(now_ - job.start);
	schedule(now_ + job.work / c_.servers[server].speed, Event::Kind::Done, static_cast<std::uint32_t>(server),
		 job);
}

void Simulation::dispatch(Job job)
{
	if (slotPolicy()) {
		const auto slot = lockSlot(job.client);
		if (!slot) {
			schedule(now_ + c_.retry, Event::Kind::Retry, job.client, job);
			return;
		}
		job.slot = slot->second;
		place(job, slot->first);
		return;
	}
	place(job, *choose(job.client));
}

void Simulation::finish(std::size_t server, const Job &job)
{
	ServerState &s = servers_[server];
	--s.busy;
	--s.inSystem;
	--inSystem_;
	record(server);
	if (job.measured) {
		jobTimes_.push_back(now_ - job.start);
		measuredWork_ += job.work;
		firstMeasured_ = std::min(firstMeasured_, job.start);
		lastMeasured_ = std::max(lastMeasured_, now_);
		if (c_.openModel)
			--measuredLeft_;
	}
	if (!s.backlog.empty()) {
		const Job next = s.backlog.front();
		s.backlog.pop_front();
		start(next, server);
	}
	if (job.client == kNoClient)
		return;
	ClientState &client = clients_[job.client];
	if (slotPolicy())
		client.locks[server][job.slot] = false;
	--client.running;
	if (client.next < client.sizes.size()) {
		startUnit(job.client);
	} else if (client.running == 0) {
		client.building = false;
		--activeBuilds_;
		if (client.measured) {
			client.makespans.push_back(now_ - client.buildStart);
			makespans_.push_back(now_ - client.buildStart);
		}
		if (client.due < c_.builds.duration)
			schedule(std::max(client.due, now_), Event::Kind::BuildDue, job.client);
	}
}

void Simulation::startUnit(std::uint32_t client)
{
	ClientState &cl = clients_[client];
	Job job;
	job.start = now_;
	job.work = cl.sizes[cl.next++];
	job.client = client;
	job.measured = cl.measured;
	++cl.running;
	dispatch(job);
}

void Simulation::startBuild(std::uint32_t client)
{
	ClientState &cl = clients_[client];
	const BuildWorkload &b = c_.builds;
	// Sizes and the next due time come from the client's own stream, in
	// build order, so every policy sees the same builds.
	cl.sizes.resize(b.units);
	for (double &size : cl.sizes)
		size = drawSize(cl.rng);
	cl.due += std::exponential_distribution<double>(1.0 / buildGap_)(cl.rng);
	cl.next = 0;
	cl.building = true;
	cl.measured = now_ >= b.warmup && now_ < b.duration;
	cl.buildStart = now_;
	++activeBuilds_;
	for (std::uint32_t i = 0; i < b.parallel && cl.next < cl.sizes.size(); ++i)
		startUnit(client);
}

void Simulation::arrive(Job job)
{
	job.start = now_;
	job.work = drawSize(arrivals_);
	job.measured = arrived_ >= warmupJobs_;
	++arrived_;
	if (job.measured)
		++measuredLeft_;
	dispatch(job);
	if (arrived_ < toArrive_)
		schedule(now_ + std::exponential_distribution<double>(arrivalRate_)(arrivals_), Event::Kind::Arrival, 0);
}

bool Simulation::overloaded() const
{
	return inSystem_ > c_.unstableFactor * totalSlots_;
}

bool Simulation::done() const
{
	if (c_.openModel)
		return arrived_ >= toArrive_ && measuredLeft_ == 0;
	return now_ >= c_.builds.duration && activeBuilds_ == 0;
}

Result Simulation::run()
{
	if (c_.openModel) {
		const OpenWorkload &o = c_.open;
		if (!(o.load > 0.0) || !(o.jobs >= 1.0))
			throw std::invalid_argument("open workload needs a load and jobs");
		arrivalRate_ = o.load * capacity_ / c_.sizes.expected();
		warmupJobs_ = static_cast<std::uint64_t>(o.warmupJobs);
		toArrive_ = warmupJobs_ + static_cast<std::uint64_t>(o.jobs);
		schedule(std::exponential_distribution<double>(arrivalRate_)(arrivals_), Event::Kind::Arrival, 0);
	} else {
		const BuildWorkload &b = c_.builds;
		if (b.clients == 0 || b.units == 0 || b.parallel == 0 || !(b.load > 0.0))
			throw std::invalid_argument("build workload needs clients, units, -j and a load");
		buildGap_ = b.clients * b.units * c_.sizes.expected() / (b.load * capacity_);
		clients_.resize(b.clients);
		for (std::uint32_t i = 0; i < b.clients; ++i) {
			ClientState &cl = clients_[i];
			cl.rng.seed(c_.seed * 1'000'003 + 17 * i + 11);
			for (const ServerSpec &s : c_.servers)
				cl.locks.emplace_back(s.slots, false);
			cl.due = std::uniform_real_distribution<double>(0.0, buildGap_)(cl.rng);
			schedule(cl.due, Event::Kind::BuildDue, i);
		}
	}
	if (c_.info.kind == Information::Kind::Periodic)
		schedule(0.0, Event::Kind::Refresh, 0);

	while (!events_.empty() && !done()) {
		const Event e = events_.top();
		events_.pop();
		now_ = e.time;
		switch (e.kind) {
		case Event::Kind::Arrival:
			arrive(e.job);
			break;
		case Event::Kind::Done:
			finish(e.index, e.job);
			break;
		case Event::Kind::BuildDue:
			startBuild(e.index);
			break;
		case Event::Kind::Retry:
			dispatch(e.job);
			break;
		case Event::Kind::Refresh:
			for (std::size_t i = 0; i < servers_.size(); ++i)
				board_[i] = servers_[i].inSystem;
			boardTime_ = now_;
			schedule(now_ + c_.info.period, Event::Kind::Refresh, 0);
			break;
		}
		if (overloaded()) {
			unstable_ = true;
			break;
		}
	}

	Result r;
	r.unstable = unstable_;
	r.endTime = now_;
	r.jobs = jobTimes_.size();
	if (!jobTimes_.empty())
		r.meanJob = std::accumulate(jobTimes_.begin(), jobTimes_.end(), 0.0) / static_cast<double>(r.jobs);
	if (!waits_.empty())
		r.meanWait = std::accumulate(waits_.begin(), waits_.end(), 0.0) / static_cast<double>(waits_.size());
	r.p99Job = quantile(jobTimes_, 0.99);
	if (lastMeasured_ > firstMeasured_)
		r.utilisation = measuredWork_ / (capacity_ * (lastMeasured_ - firstMeasured_));
	r.builds = makespans_.size();
	if (!makespans_.empty())
		r.meanMakespan =
			std::accumulate(makespans_.begin(), makespans_.end(), 0.0) / static_cast<double>(r.builds);
	r.p99Makespan = quantile(makespans_, 0.99);
	std::vector<double> throughput;
	for (const ClientState &cl : clients_) {
		if (cl.makespans.empty())
			continue;
		const double mean = std::accumulate(cl.makespans.begin(), cl.makespans.end(), 0.0) /
				    static_cast<double>(cl.makespans.size());
		r.clientMakespan.push_back(mean);
		throughput.push_back(1.0 / mean);
	}
	r.jain = jain(throughput);
	return r;
}

} // namespace

Result simulate(const Config &config)
{
	Simulation sim(config);
	return sim.run();
}

} // namespace dmdns::sim

// Advertises this host's distccd over mDNS while it accepts connections, with its capacity and load.
#include "daemon/advertiser.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

#include "common/log.h"
#include "distcc-mdns/txt.h"
#include "distcc-mdns/txt_digest.h"
#include "host/files.h"
#include "host/interfaces.h"

namespace dmdns {

namespace {

// For tools/bench-idle's comparison only, DISTCC_MDNS_SAMPLING=legacy reads
// every socket of the host from /proc/net/tcp* at a fixed cadence, as before
// NETLINK_SOCK_DIAG; =fixed reads the new way at a fixed cadence.
enum class Sampling {
	Adaptive,
	Fixed,
	Legacy
};

Sampling samplingMode()
{
	const char *mode = std::getenv("DISTCC_MDNS_SAMPLING");
	const std::string_view m = mode ? mode : "";
	return m == "legacy" ? Sampling::Legacy : m == "fixed" ? Sampling::Fixed
							       : Sampling::Adaptive;
}

} // namespace

Advertiser::Advertiser(uv_loop_t &loop, avahi::Mdns &mdns, AdvertiserConfig config)
	: config_(std::move(config)), publisher_(mdns.publisher()),
	  probe_(config_.distccPort, "/proc", host::distccdUids(), samplingMode() == Sampling::Legacy),
	  cadence_(config_.checkInterval,
		   samplingMode() == Sampling::Adaptive ? config_.maxCheckInterval : config_.checkInterval),
	  timer_(loop, [this] { check(); })
{
	self_.id = host::hostId();
	self_.port = config_.distccPort;
	self_.cpus = std::clamp<std::uint32_t>(config_.cpus.value_or(host::onlineCpus()), 1, kMaxCpus);
	self_.speed = config_.speed;
	// distccd 3.4 speaks LZO and pump mode; clients ask for them.
	self_.lzo = true;
	self_.cpp = true;
	self_.compilers = host::masqueradeCompilers(config_.masqueradeDir);
	const bool masqueraded = !self_.compilers.empty();
	if (self_.compilers.empty())
		if (auto cc = host::probeCompiler("cc")) {
			// Said once, instead of both "no compiler" and "runs cc".
			log(LogLevel::Warning,
			    "no compiler in {}: advertising cc ({} {}), which distccd runs only if started with "
			    "--enable-tcp-insecure; install distcc's masquerade links (update-distcc-symlinks)",
			    config_.masqueradeDir, cc->machine, cc->version);
			self_.compilers.push_back(*cc);
		}
	self_.sample = LoadSample{ .incarnation = config_.incarnation };
	if (config_.autoDrain)
		autoDrain_.emplace(*config_.autoDrain);
	name_ = "distcc@" + host::hostName();

	if (self_.compilers.empty())
		setReason(fmt::format("no compiler found in {} nor as cc", config_.masqueradeDir), LogLevel::Error);
	else if (masqueraded)
		for (const Compiler &c : self_.compilers)
			log(LogLevel::Info, "distccd runs {} {}", c.machine, c.version);
	if (config_.mode == AdvertiserConfig::Mode::No)
		reason_ = "advertising is off (--advertise=no)";

	if (samplingMode() != Sampling::Adaptive)
		log(LogLevel::Info, "DISTCC_MDNS_SAMPLING={}: sampling every {} ms",
		    samplingMode() == Sampling::Legacy ? "legacy (/proc/net/tcp*)" : "fixed",
		    config_.checkInterval.count());
	if (config_.mode != AdvertiserConfig::Mode::No && !self_.compilers.empty())
		check(); // arms the timer for the next one
}

void Advertiser::stop()
{
	timer_.stop();
	publisher_->withdraw();
}

void Advertiser::setState(ServerState state)
{
	wanted_ = state;
	const host::LoadReading reading = probe_.read();
	applyState();
	if (everListened_ && onSample)
		onSample(self_, reading, listening_);
}

void Advertiser::setSpeed(double speed)
{
	if (speed == self_.speed)
		return;
	log(LogLevel::Info, "speed {:.2f} -> {:.2f}", self_.speed, speed);
	self_.speed = speed;
	if (listening_)
		publisher_->updateTxt(txt());
}

void Advertiser::applyState()
{
	const bool ownerBusy = autoDrain_ && autoDrain_->drained();
	const ServerState state = wanted_ == ServerState::Drain || ownerBusy ? ServerState::Drain : ServerState::Up;
	if (state == self_.state)
		return;
	log(LogLevel::Info, "state {} -> {}{}", stateName(self_.state), stateName(state),
	    ownerBusy ? fmt::format(" (the owner's load is {:.1f} tasks)", autoDrain_->ownerLoad()) : "");
	self_.state = state;
	if (listening_)
		publisher_->updateTxt(txt());
}

std::optional<Server> Advertiser::advertised() const
{
	if (!publisher_->wanted())
		return std::nullopt;
	return self_;
}

Advertiser::Coarse Advertiser::coarsen(const host::LoadReading &reading) const
{
	// Quarters of the slots: enough for a client to tell idle from busy.
	const std::uint32_t step = std::max<std::uint32_t>(1, self_.slots / 4);
	return Coarse{ reading.running / step * step, static_cast<std::uint32_t>(reading.runnable) };
}

void Advertiser::check()
{
	const host::LoadReading reading = probe_.read();
	// The next check: soon while the load moves, later while it does not.
	// Armed before anything below can throw, so sampling never stops.
	const bool changed = !lastReading_ || loadChanged(*lastReading_, reading, self_.cpus);
	lastReading_ = reading;
	timer_.start(cadence_.next(changed));
	const auto now = std::chrono::steady_clock::now();
	// Only a verified distccd: anyone may listen on its port. In auto mode
	// only one that other hosts can reach: Debian's defaults make distccd
	// listen on and admit 127.0.0.1 alone.
	const bool forced = config_.mode == AdvertiserConfig::Mode::Yes;
	bool listening = reading.distccd || forced;
	if (reading.distccd && !forced && !listening_)
		listening = reachable(now);
	if (!reading.distccd) {
		distccd_.reset();
		reach_ = {};
	}
	if (!reading.listening && !forced)
		// Said as a warning: the usual reason a server is missing; a
		// client-only machine says --advertise=no and hears nothing.
		setReason(fmt::format("no distccd listening on port {} (start distccd, or give --advertise=no on a "
				      "machine that only builds)",
				      config_.distccPort),
			  LogLevel::Warning);
	else if (!reading.distccd && !forced)
		// The probe logged who listens instead.
		setReason(fmt::format("what listens on port {} is not a verified distccd", config_.distccPort),
			  LogLevel::Debug);
	if (autoDrain_ && checkedAt_ != std::chrono::steady_clock::time_point{})
		autoDrain_->update(reading.runnable, reading.running, self_.cpus,
				   std::chrono::duration_cast<std::chrono::milliseconds>(now - checkedAt_));
	checkedAt_ = now;
	update(reading, listening);
	applyState();
	if (everListened_ && onSample)
		onSample(self_, reading, listening_);
}

void Advertiser::update(const host::LoadReading &reading, bool listening)
{
	if (listening != listening_) {
		listening_ = listening;
		if (!listening) {
			log(LogLevel::Info, "distccd stopped accepting on port {}", config_.distccPort);
			publisher_->withdraw();
			return;
		}
		log(LogLevel::Info, "distccd accepts on port {}", config_.distccPort);
		everListened_ = true;
		setReason({}, LogLevel::Info);
		// distccd may have come back with another --jobs.
		if (!distccd_)
			distccd_ = host::checkDistccd(config_.distccPort, "/proc", host::distccdUids());
		std::optional<std::uint32_t> jobs;
		if (distccd_->verified && distccd_->args)
			// distccd's default: the CPUs it sees plus two.
			jobs = distccd_->args->jobs.value_or(std::min(host::onlineCpus() + 2, kMaxSlots));
		self_.slots = std::clamp<std::uint32_t>(config_.slots.value_or(jobs.value_or(self_.cpus + 2)), 1,
							kMaxSlots);
		self_.listens = reach_.listens;
		self_.allows = reach_.allows;
		distccd_.reset(); // looked at afresh when distccd comes back
		coarse_ = coarsen(reading);
		publish();
		return;
	}
	if (!listening)
		return;

	const Coarse coarse = coarsen(reading);
	const auto now = std::chrono::steady_clock::now();
	if (coarse == coarse_ || now - txtAt_ < config_.txtInterval)
		return;
	coarse_ = coarse;
	self_.sample->running = coarse.running;
	self_.sample->runnable = coarse.runnable;
	++self_.sample->sequence;
	txtAt_ = now;
	publisher_->updateTxt(txt());
}

bool Advertiser::reachable(std::chrono::steady_clock::time_point now)
{
	if (!reach_.refusal.empty() && now < recheckAt_)
		return false;
	distccd_ = host::checkDistccd(config_.distccPort, "/proc", host::distccdUids());
	if (!distccd_->verified)
		return false; // gone meanwhile: the next reading says so
	// Linux's default (0): an IPv6 wildcard socket takes IPv4 too.
	const auto v6only = host::readBounded("/proc/sys/net/ipv6/bindv6only", 64);
	const bool dualStack = !v6only || !v6only->text.starts_with('1');
	reach_ = host::reachOf(distccd_->addresses, distccd_->args, dualStack, host::localNetworks());
	if (reach_.refusal.empty())
		return true;
	recheckAt_ = now + kRecheckRefused;
	setReason(reach_.refusal, LogLevel::Warning);
	return false;
}

void Advertiser::setReason(std::string reason, LogLevel level)
{
	if (reason == reason_)
		return;
	if (!reason.empty())
		log(level, "not advertising: {}", reason);
	reason_ = std::move(reason);
}

std::vector<std::string> Advertiser::txt()
{
	for (;;) {
		try {
			std::vector<std::string> strings = encodeTxt(self_);
			// Every string that is published is in the digest: clients
			// take a TXT for this host only when the two match.
			profile_ = txtProfileDigest(strings);
			return strings;
		} catch (const std::length_error &e) {
			// What a client picks an address by is a hint: dropped first
			// (unknown to the client), then the cross compilers.
			if (!self_.allows.empty() || !self_.listens.empty()) {
				log(LogLevel::Warning, "{}; not advertising distccd's {}", e.what(),
				    self_.allows.empty() ? "listening addresses" : "--allow networks");
				if (self_.allows.empty())
					self_.listens.clear();
				else
					self_.allows.clear();
				continue;
			}
			if (self_.compilers.size() <= 1)
				throw;
			log(LogLevel::Warning, "{}; not advertising {} {}", e.what(),
			    self_.compilers.back().machine, self_.compilers.back().version);
			self_.compilers.pop_back();
		}
	}
}

void Advertiser::publish()
{
	self_.sample->running = coarse_.running;
	self_.sample->runnable = coarse_.runnable;
	++self_.sample->sequence;
	txtAt_ = std::chrono::steady_clock::now();

	avahi::ServiceSpec spec;
	spec.name = name_;
	spec.type = std::string(kServiceType);
	spec.port = config_.distccPort;
	spec.txt = txt();
	spec.subtypes = { stockSubtype(self_.compilers.front()) };
	log(LogLevel::Info, "advertising '{}': {} cpus, {} slots", name_, self_.cpus, self_.slots);
	publisher_->publish(std::move(spec));
}

} // namespace dmdns

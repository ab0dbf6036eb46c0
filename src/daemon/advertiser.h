// Advertises this host's distccd over mDNS while it accepts connections, with its capacity and load.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "avahi/mdns.h"
#include "common/log.h"
#include "daemon/sample_cadence.h"
#include "distcc-mdns/drain.h"
#include "distcc-mdns/gossip.h"
#include "distcc-mdns/server.h"
#include "host/probe.h"
#include "host/reach.h"
#include "uv/handle.h"

namespace dmdns {

struct AdvertiserConfig {
	enum class Mode {
		Auto,
		Yes,
		No
	};

	Mode mode = Mode::Auto;
	std::uint16_t distccPort = kDistccPort;
	std::optional<std::uint32_t> cpus;  // --cpus: offer fewer than online
	std::optional<std::uint32_t> slots; // --slots: instead of distccd's --jobs
	std::string masqueradeDir = "/usr/lib/distcc";
	double speed = 1.0;
	// How often distccd and the load are looked at while they change: the
	// gossip sample period. While nothing changes the period doubles up to
	// maxCheckInterval (SampleCadence), which gossip's liveness timing
	// allows for (kQuietMeasure: a quiet server's heartbeat is as old as
	// its measurement). A new job on an idle host is thus seen at most
	// this late, and every change after it at once.
	std::chrono::milliseconds checkInterval{ 250 };
	std::chrono::milliseconds maxCheckInterval{ kQuietMeasure };
	// RFC 6762 §8.4 allows a record update at most 10 times a minute; load
	// in TXT is coarse and changes at most this often.
	std::chrono::milliseconds txtInterval{ 10000 };
	// --auto-drain: drain while the owner's own load exceeds this share of
	// the cpus (see AutoDrain); unset: never on its own.
	std::optional<double> autoDrain;
	// This run's incarnation, the one gossip carries too (IncarnationStore).
	std::uint64_t incarnation = 1;
};

// Publishes `distcc@<hostname>` with the TXT from the core and the stock
// subtype of the default compiler, withdraws when distccd stops accepting
// (in auto mode) and comes back when it returns.
class Advertiser final
{
public:
	// Borrows @loop and @mdns (avahi::Client, or a fake) for its lifetime.
	Advertiser(uv_loop_t &loop, avahi::Mdns &mdns, AdvertiserConfig config);

	Advertiser(const Advertiser &) = delete;
	Advertiser &operator=(const Advertiser &) = delete;

	// Withdraws the service and stops looking; for a clean exit.
	void stop();

	// The record as advertised now, if it is.
	std::optional<Server> advertised() const;
	// The digest of the TXT last published (txtProfileDigest), for gossip
	// to vouch for it (a PROFILE); empty before the first.
	std::optional<std::uint64_t> profileDigest() const noexcept { return profile_; }

	// Drain (no new jobs, please) or up again: advertised at once in TXT
	// and by the next gossip sample, which goes out now. With --auto-drain
	// the host is drained while either the owner asked or its load says so.
	void setState(ServerState state);
	ServerState state() const noexcept { return self_.state; }

	// A new speed for this host (the benchmark re-run while it idled): in
	// the TXT at once and in every gossip sample from the next on.
	void setSpeed(double speed);

	// Why this host is not advertised now and what to change, for the
	// status; empty while it is (or before the first look).
	const std::string &notAdvertising() const noexcept { return reason_; }

	// How long a distccd that no other host can reach waits before it is
	// looked at again (its command line and sockets: a walk of /proc).
	static constexpr std::chrono::seconds kRecheckRefused{ 5 };

	// Called at every check (checkInterval) once distccd was seen accepting:
	// this host's record and the fresh reading, and whether distccd accepts
	// now. The gossip sample is made from it.
	std::function<void(const Server &self, const host::LoadReading &reading, bool accepting)> onSample;

private:
	// Coarse load as TXT carries it: changes of these, not of the exact
	// numbers, justify a TXT update.
	struct Coarse {
		std::uint32_t running = 0;
		std::uint32_t runnable = 0;
		bool operator==(const Coarse &) const = default;
	};

	void check();
	// Whether other hosts can reach the distccd that accepts now (its
	// listening addresses and --allow); sets reach_, and the reason when
	// not. Looks again at most every kRecheckRefused while refused.
	bool reachable(std::chrono::steady_clock::time_point now);
	// Sets the reason for not advertising, logged once per new reason.
	void setReason(std::string reason, LogLevel level);
	void update(const host::LoadReading &reading, bool listening);
	// Advertises the state the owner's request and the auto drain call for.
	void applyState();
	Coarse coarsen(const host::LoadReading &reading) const;
	void publish();
	// The TXT of self_, dropping compilers that do not fit; sets profile_.
	std::vector<std::string> txt();

	const AdvertiserConfig config_;
	std::unique_ptr<avahi::Publishing> publisher_;
	host::LoadProbe probe_;
	SampleCadence cadence_;
	std::optional<host::LoadReading> lastReading_; // the previous check's
	uv::Timer timer_;
	Server self_;
	std::string name_;
	Coarse coarse_;
	std::chrono::steady_clock::time_point txtAt_{};
	bool listening_ = false;
	bool everListened_ = false;
	ServerState wanted_ = ServerState::Up; // what --set-state asked for
	std::optional<AutoDrain> autoDrain_;
	std::chrono::steady_clock::time_point checkedAt_{};
	std::string reason_;
	// The distccd last looked at by reachable(), and what it admits.
	std::optional<host::DistccdListener> distccd_;
	host::DistccdReach reach_;
	std::chrono::steady_clock::time_point recheckAt_{};
	std::optional<std::uint64_t> profile_;
};

} // namespace dmdns

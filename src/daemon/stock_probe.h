// Connect probes to stock-only distccd servers, which no gossip declares dead, so that a vanished one leaves the lines.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <uv.h>

#include "distcc-mdns/directory.h"
#include "uv/clock.h"

namespace dmdns {

// Where a stock-only server's distccd listens: the address and port a
// hosts line names it by.
struct ProbeTarget {
	Address address;
	std::uint16_t port = 0;

	auto operator<=>(const ProbeTarget &other) const
	{
		return std::tie(address.text, address.scope, port) <=>
		       std::tie(other.address.text, other.address.scope, other.port);
	}
	bool operator==(const ProbeTarget &other) const = default;
};

// "10.0.0.5:3632", "[fe80::1%2]:3632".
std::string describe(const ProbeTarget &target);

// How a probe reaches a port: TcpConnector on the loop, a fake in tests.
class Connector
{
public:
	// A connect under way. Destroying it abandons it (a timeout): its
	// callback never runs afterwards.
	class Attempt
	{
	public:
		virtual ~Attempt() = default;
	};
	// 0 when the connection was made (and closed at once, no byte sent),
	// else the errno why not (ECONNREFUSED, EHOSTUNREACH, ...).
	using Done = std::function<void(int error)>;

	virtual ~Connector() = default;
	// Starts a connect to @target; @done runs at most once, from the loop,
	// never from inside connect(). nullptr when it could not even start
	// (no socket: too many open files): the caller counts that as no probe.
	virtual std::unique_ptr<Attempt> connect(const ProbeTarget &target, Done done) = 0;
};

// Non-blocking TCP connects on a libuv loop: a socket, connect(), one
// uv::Poll for writability, SO_ERROR, close. Nothing is ever written.
class TcpConnector final : public Connector
{
public:
	// Borrows @loop for its lifetime.
	explicit TcpConnector(uv_loop_t &loop) noexcept
		: loop_(loop) { }

	std::unique_ptr<Attempt> connect(const ProbeTarget &target, Done done) override;

private:
	uv_loop_t &loop_;
};

// The stock-only servers among @entries: stock records (no gossip id) at an
// address and port that no record @heard says gossip hears alive shares
// (a host running stock distccd beside distcc-mdnsd is gossip's to judge).
// In the entries' order, each address and port once.
std::vector<ProbeTarget> stockOnly(const std::vector<DirectoryEntry> &entries,
				   const std::function<bool(const DirectoryEntry &)> &heard);

struct StockProbeConfig {
	// Each server probed at most once per interval.
	std::chrono::milliseconds interval{ 1000 };
	// A connect not done by then failed (the server's link is gone).
	std::chrono::milliseconds timeout{ 1500 };
	// Probes started in any one second, all servers together.
	std::size_t perSecond = 32;
	// Connects under way at once.
	std::size_t inFlight = 16;
	// Servers followed; beyond these none is probed (and none marked).
	std::size_t maxTargets = 256;
	// How often due probes and timeouts are looked at (while there is a
	// stock server; else once an interval).
	std::chrono::milliseconds tick{ 100 };
};

// What the probe did since it started.
struct StockProbeStats {
	std::uint64_t started = 0;
	std::uint64_t connected = 0;
	std::uint64_t failed = 0; // refused, unreachable and the like
	std::uint64_t timedOut = 0;
	std::uint64_t notStarted = 0; // the connector could not start one
	std::uint64_t untracked = 0;  // targets beyond maxTargets at the last refresh
};

// Stock distcc keeps a server whose link went for 136-148 s, and with no
// gossip nothing else says it died. Every interval this asks @targets for
// the stock-only servers (at most maxTargets), probes the longest unprobed
// first within the rate and in-flight bounds, and marks a server down when
// its connect is refused, unreachable or times out; a later successful
// probe or an mDNS announcement (announced()) lifts the mark. A hostile
// host advertising thousands of records gets no more than perSecond
// connects a second and inFlight at once out of this daemon.
class StockProbe final
{
public:
	using Targets = std::function<std::vector<ProbeTarget>()>;

	// Borrows @clock and @connector for its lifetime.
	StockProbe(uv::Clock &clock, Connector &connector, Targets targets, StockProbeConfig config = {});

	StockProbe(const StockProbe &) = delete;
	StockProbe &operator=(const StockProbe &) = delete;

	// Whether the last probe of @target failed and nothing lifted it since.
	bool down(const ProbeTarget &target) const;
	// mDNS announced the server at @target (again): listed until a later
	// probe fails.
	void announced(const ProbeTarget &target);
	// Sets state Down on the stock entries at a target marked down, unless
	// another entry at that address and port is one gossip hears (@heard);
	// returns how many it marked.
	std::size_t markDown(std::vector<DirectoryEntry> &entries,
			     const std::function<bool(const DirectoryEntry &)> &heard) const;

	std::size_t tracked() const noexcept { return table_.size(); }
	std::size_t inFlight() const noexcept;
	const StockProbeStats &stats() const noexcept { return stats_; }
	// Asks for the targets now instead of at the next interval.
	void refresh();

private:
	struct Entry {
		SteadyTime due{}; // the next probe may start then
		bool down = false;
		std::unique_ptr<Connector::Attempt> attempt;
		SteadyTime deadline{}; // of the attempt under way
	};

	void tick();
	void start(const ProbeTarget &target, Entry &entry, SteadyTime now);
	void finished(const ProbeTarget &target, int error);
	void setDown(const ProbeTarget &target, Entry &entry, bool down, std::string_view why);

	uv::Clock &clock_;
	Connector &connector_;
	Targets targets_;
	StockProbeConfig config_;
	std::map<ProbeTarget, Entry> table_; // at most maxTargets
	std::deque<SteadyTime> starts_;	     // within the last second: at most perSecond
	SteadyTime refreshed_{};
	bool idle_ = false; // no target: the alarm runs at the interval, not the tick
	StockProbeStats stats_;
	std::unique_ptr<uv::Alarm> alarm_;
};

} // namespace dmdns

// Time and alarms as the daemon's parts see them: steady_clock and libuv timers in the daemon, a fake in tests.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <uv.h>

namespace dmdns::uv {

// A one-shot or repeating alarm; uv::Timer is one.
class Alarm
{
public:
	virtual ~Alarm() = default;

	// (Re)starts; negative durations count as zero. With @repeat zero the
	// alarm fires once.
	virtual void start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat = {}) = 0;
	virtual void stop() noexcept = 0;
};

class Clock
{
public:
	virtual ~Clock() = default;

	virtual std::chrono::steady_clock::time_point now() const = 0;
	// An alarm that runs @onExpire on this clock's time, stopped at first.
	virtual std::unique_ptr<Alarm> alarm(std::function<void()> onExpire) = 0;
};

// steady_clock, and uv::Timer on the loop.
class LoopClock final : public Clock
{
public:
	// Borrows @loop for its lifetime.
	explicit LoopClock(uv_loop_t &loop) noexcept
		: loop_(loop) { }

	std::chrono::steady_clock::time_point now() const override { return std::chrono::steady_clock::now(); }
	std::unique_ptr<Alarm> alarm(std::function<void()> onExpire) override;

private:
	uv_loop_t &loop_;
};

} // namespace dmdns::uv

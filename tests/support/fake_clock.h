// A clock that moves only when the test says so, firing the alarms due on the way.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "uv/clock.h"

namespace dmdns::test {

class FakeClock final : public uv::Clock
{
public:
	// More firings than this in one advance() mean an alarm re-arms itself
	// at once forever: advance() throws instead of hanging the test.
	static constexpr std::size_t kMaxFirings = 100000;

	FakeClock() = default;
	// Every alarm must be destroyed first.
	~FakeClock();

	FakeClock(const FakeClock &) = delete;
	FakeClock &operator=(const FakeClock &) = delete;

	std::chrono::steady_clock::time_point now() const override { return now_; }
	std::unique_ptr<uv::Alarm> alarm(std::function<void()> onExpire) override;

	// Moves time on by @span, firing every alarm that falls due on the
	// way, in time order, each with now() at its due time.
	void advance(std::chrono::milliseconds span);
	// Alarms started and not yet fired or stopped.
	std::size_t armed() const noexcept;

	// Alarms started from now on count from @lag before now(), as libuv's
	// timers count from the loop's cached time, which lags the real clock
	// by the work done since the loop iteration began.
	void setLoopLag(std::chrono::milliseconds lag) noexcept { loopLag_ = lag; }

private:
	class Alarm;

	// Not the epoch: code may take a zero time point for "never".
	std::chrono::steady_clock::time_point now_{ std::chrono::hours(1000) };
	std::vector<Alarm *> alarms_;
	std::chrono::milliseconds loopLag_{ 0 };
};

} // namespace dmdns::test

// A clock that moves only when the test says so, firing the alarms due on the way.
#include "support/fake_clock.h"

#include <algorithm>
#include <exception>
#include <stdexcept>

namespace dmdns::test {

class FakeClock::Alarm final : public uv::Alarm
{
public:
	Alarm(FakeClock &clock, std::function<void()> onExpire)
		: clock_(clock), onExpire_(std::move(onExpire))
	{
		clock_.alarms_.push_back(this);
	}
	~Alarm() override { std::erase(clock_.alarms_, this); }

	void start(std::chrono::milliseconds timeout, std::chrono::milliseconds repeat) override
	{
		due_ = clock_.now_ - clock_.loopLag_ + std::max(timeout, std::chrono::milliseconds(0));
		repeat_ = std::max(repeat, std::chrono::milliseconds(0));
		armed_ = true;
	}
	void stop() noexcept override { armed_ = false; }

	bool armed() const noexcept { return armed_; }
	std::chrono::steady_clock::time_point due() const noexcept { return due_; }

	void fire()
	{
		armed_ = repeat_.count() > 0;
		due_ += repeat_;
		// A copy: the callback may destroy this alarm.
		const std::function<void()> onExpire = onExpire_;
		onExpire();
	}

private:
	FakeClock &clock_;
	std::function<void()> onExpire_;
	std::chrono::steady_clock::time_point due_{};
	std::chrono::milliseconds repeat_{};
	bool armed_ = false;
};

FakeClock::~FakeClock()
{
	// An alarm outliving its clock would write into freed memory.
	if (!alarms_.empty())
		std::terminate();
}

std::unique_ptr<uv::Alarm> FakeClock::alarm(std::function<void()> onExpire)
{
	return std::make_unique<Alarm>(*this, std::move(onExpire));
}

void FakeClock::advance(std::chrono::milliseconds span)
{
	const auto until = now_ + span;
	for (std::size_t firings = 0;; ++firings) {
		Alarm *next = nullptr;
		for (Alarm *a : alarms_)
			if (a->armed() && a->due() <= until && (!next || a->due() < next->due()))
				next = a;
		if (!next)
			break;
		if (firings >= kMaxFirings)
			throw std::runtime_error("FakeClock: an alarm keeps firing without time passing");
		now_ = std::max(now_, next->due());
		next->fire();
	}
	now_ = until;
}

std::size_t FakeClock::armed() const noexcept
{
	return static_cast<std::size_t>(std::count_if(alarms_.begin(), alarms_.end(), [](const Alarm *a) { return a->armed(); }));
}

} // namespace dmdns::test

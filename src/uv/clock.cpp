// Time and alarms as the daemon's parts see them: steady_clock and libuv timers in the daemon, a fake in tests.
#include "uv/clock.h"

#include "uv/handle.h"

namespace dmdns::uv {

std::unique_ptr<Alarm> LoopClock::alarm(std::function<void()> onExpire)
{
	return std::make_unique<Timer>(loop_, std::move(onExpire));
}

} // namespace dmdns::uv

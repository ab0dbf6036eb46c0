// libFuzzer driver for SPEED records: hostile job-time reports decoded and merged into the learned speeds.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkSpeedMerge(data, size);
	return 0;
}

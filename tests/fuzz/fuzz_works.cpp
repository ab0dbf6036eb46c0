// libFuzzer driver for distcc-mdns-run's remembered compile times and placement file.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkWorks(data, size);
	return 0;
}

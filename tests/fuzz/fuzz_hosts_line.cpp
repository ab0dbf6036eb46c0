// libFuzzer driver for the hosts-line decoder.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkHostsLine(data, size);
	return 0;
}

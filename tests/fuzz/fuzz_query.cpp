// libFuzzer driver for the query-socket request decoder.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkQueryLine(data, size);
	return 0;
}

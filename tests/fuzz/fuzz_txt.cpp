// libFuzzer driver for the txt decoder.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkTxt(data, size);
	return 0;
}

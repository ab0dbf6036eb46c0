// libFuzzer driver for gossip merging: sequences of hostile datagrams against a server that speaks.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkGossipMerge(data, size);
	return 0;
}

// libFuzzer driver for the gossip datagram decoder and state machine.
#include "fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	dmdns::fuzz::checkGossipPacket(data, size);
	return 0;
}

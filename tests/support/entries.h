// Directory entries the tests build their farms from.
#pragma once

#include <cstdint>
#include <string>

#include "distcc-mdns/directory.h"

namespace dmdns::test {

// A server called @name at @address with @slots slots and as many cores,
// one compiler, no load sample.
inline DirectoryEntry entry(const char *name, const char *address, std::uint32_t slots)
{
	DirectoryEntry e;
	e.name = name;
	e.hostName = std::string(name) + ".local";
	e.server.id = name;
	e.server.addresses = { *Address::parse(address) };
	e.server.cpus = slots;
	e.server.slots = slots;
	e.server.compilers = { { "x86_64-linux-gnu", "12" } };
	return e;
}

} // namespace dmdns::test

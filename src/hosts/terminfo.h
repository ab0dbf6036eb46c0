// Whether terminfo knows this terminal, asked apart from top.cpp: <term.h> defines macros named like its capabilities.
#pragma once

namespace dmdns::top {

// True when terminfo has an entry for $TERM on @fd. Asked before
// newterm(), which on failure leaves its allocations behind; this frees
// what it loaded.
bool knownTerminal(int fd);

} // namespace dmdns::top

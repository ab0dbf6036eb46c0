// DNS-SD TXT schema of a _distcc._tcp advertisement, compatible with distccd --zeroconf.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns {

inline constexpr std::string_view kServiceType = "_distcc._tcp";

// RFC 6763 §6.2: a TXT record should stay under 400 bytes to fit one
// 512-byte mDNS message together with the other records of a service.
inline constexpr std::size_t kMaxTxtBytes = 400;
// Longer records still decode, but only this many strings are read.
inline constexpr std::size_t kMaxTxtStrings = 64;
// Compilers besides the default one that one `cc` value may list.
inline constexpr std::size_t kMaxTxtCompilers = 16;

// Addresses in `listen`, networks in `allow`: a longer list is refused
// whole, and the server says nothing instead (unknown: no constraint).
inline constexpr std::size_t kMaxTxtNetworks = 8;

// Our schema version, advertised as `dmver`.
inline constexpr unsigned kTxtSchemaVersion = 1;

// One field the decoder refused, and why.
struct TxtProblem {
	std::string key;
	std::string reason;
};

struct TxtDecoded {
	// What the TXT says; addresses and port come from the SRV record.
	Server server;
	// The record carried distcc-mdns keys; false for a stock distccd.
	bool ours = false;
	// False when the record cannot describe a distcc server we understand
	// (an unknown txtvers); the server must then be ignored.
	bool usable = true;
	std::vector<TxtProblem> problems;
};

// Size of the record on the wire: one length byte plus the bytes of each
// string.
std::size_t txtWireSize(std::span<const std::string> strings) noexcept;

// Encodes @server as TXT strings: stock distcc's keys first, unchanged,
// then ours. The compilers' identities go in `ccid`, one per compiler in
// the order the record lists them (the default's first, then `cc`'s), "-"
// for one without, and only as many as fit: the last compilers' are cut
// first (those compilers are then matched unverified), never the record
// made oversize by them. Throws std::length_error if the record would
// still exceed kMaxTxtBytes and std::invalid_argument if a field cannot be
// advertised.
std::vector<std::string> encodeTxt(const Server &server);

// Decodes TXT strings as received (any order, raw bytes). Never throws for
// bad input: every refused field is listed in problems and left at its
// default; a `ccid` with a malformed entry or more entries than compilers
// is refused whole, leaving every identity empty.
TxtDecoded decodeTxt(std::span<const std::string_view> strings);
TxtDecoded decodeTxt(std::span<const std::string> strings);

// The DNS-SD subtype stock distcc browses for @compiler, exactly as
// distcc 3.4 builds it: `_<machine>--<version>._sub._distcc._tcp`, each
// part cut to 63 characters, letters folded to lower case and every other
// character outside [a-z0-9] turned into '-'.
std::string stockSubtype(const Compiler &compiler);

} // namespace dmdns

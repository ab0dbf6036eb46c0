// distcc 3.4 host list: a writer whose output distcc reads, and a strict parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/server.h"

namespace dmdns {

// Bounds the parser enforces; distcc reads whole files, we do not need to.
inline constexpr std::size_t kMaxHostsLineBytes = 64 * 1024;
inline constexpr std::size_t kMaxHostSpecs = 1024;
inline constexpr std::uint32_t kMaxHostLimit = 9999;

// One entry of the list. distcc's grammar:
//   localhost[/LIMIT]
//   [USER]@HOSTID[/LIMIT][:COMMAND][OPTIONS]	(ssh)
//   HOSTID[:PORT][/LIMIT][OPTIONS]		(tcp; /LIMIT may also precede :PORT)
//   +zeroconf
// with OPTIONS = ,lzo ,cpp ,auth[=NAME]; ,cpp needs ,lzo.
struct HostSpec {
	enum class Kind : std::uint8_t {
		Tcp,
		Ssh,
		Local,
		Zeroconf
	};

	Kind kind = Kind::Tcp;
	std::string host;		    // name or numeric address; IPv6 without brackets
	std::uint16_t port = kDistccPort;   // tcp only
	std::optional<std::uint32_t> limit; // empty: distcc's default
	bool lzo = false;
	bool cpp = false;
	std::optional<std::string> auth; // ,auth when set; ,auth=NAME when not empty
	std::string user;		 // ssh only, may be empty
	std::string command;		 // ssh only: path of distccd on the remote

	// The limit distcc applies: the given one, else 2 for localhost and 4
	// for every other host.
	std::uint32_t effectiveLimit() const noexcept;

	bool operator==(const HostSpec &) const = default;
};

struct HostsLine {
	std::vector<HostSpec> hosts;
	bool randomize = false;
	std::optional<std::uint32_t> localSlots;    // --localslots=N
	std::optional<std::uint32_t> localSlotsCpp; // --localslots_cpp=N

	bool operator==(const HostsLine &) const = default;
};

// Why @spec cannot be written as distcc would read it back, or empty.
std::string checkHostSpec(const HostSpec &spec);

// Writes @line as one line of distcc host specifications, without a
// newline. Throws std::invalid_argument naming the first entry that
// checkHostSpec() refuses. Every written line parses back to @line.
std::string writeHostsLine(const HostsLine &line);

struct HostsLineParse {
	std::optional<HostsLine> line; // empty on error
	std::string error;
	std::size_t errorOffset = 0; // byte offset of the offending token
};

// Parses a host list as distcc reads $DISTCC_HOSTS or a hosts file:
// whitespace-separated entries, '#' comments to the end of the line. Stricter
// than distcc in what a host name may contain; never throws.
HostsLineParse parseHostsLine(std::string_view text);

// The entry for @server at @address with at most @limit jobs; options as
// the server advertises them and the client wants them.
HostSpec hostSpecFor(const Address &address, std::uint16_t port, std::uint32_t limit,
		     bool lzo, bool cpp);

} // namespace dmdns

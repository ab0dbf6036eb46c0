// The invariants each fuzz target checks on one input.
#include "fuzz/targets.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/hosts_line.h"
#include "distcc-mdns/text.h"
#include "distcc-mdns/txt.h"
#include "distcc-mdns/work_history.h"

namespace dmdns::fuzz {

void checkTxt(const std::uint8_t *data, std::size_t size)
{
	std::vector<std::string> strings;
	for (std::size_t pos = 0; pos < size;) {
		const std::size_t len = data[pos++];
		const std::size_t take = std::min(len, size - pos);
		strings.emplace_back(reinterpret_cast<const char *>(data + pos), take);
		pos += take;
	}

	const TxtDecoded decoded = decodeTxt(strings);
	const Server &s = decoded.server;
	if (s.cpus > kMaxCpus || s.slots < 1 || s.slots > kMaxSlots)
		violated("capacity out of bounds");
	if (!(s.speed >= kMinSpeed && s.speed <= kMaxSpeed))
		violated("speed out of bounds");
	if (s.cpp && !s.lzo)
		violated("cpp without lzo");
	if (s.compilers.size() > kMaxTxtCompilers + 1)
		violated("too many compilers");
	if (s.listens.size() > kMaxTxtNetworks || s.allows.size() > kMaxTxtNetworks)
		violated("too many listen or allow entries");
	for (const Network &n : s.allows)
		if (n.prefix > (n.address.family == Address::Family::IPv4 ? 32 : 128))
			violated("allow prefix out of range");
	for (const Compiler &c : s.compilers)
		if (!c.valid())
			violated("a compiler or its identity is not well-formed");

	// Whatever decodes and can be advertised again must decode the same.
	if (!decoded.usable || s.compilers.empty() || s.id.empty() || s.cpus == 0)
		return;
	std::vector<std::string> again;
	try {
		again = encodeTxt(s);
	} catch (const std::length_error &) {
		return; // a record we would not send, but may receive
	}
	const TxtDecoded round = decodeTxt(again);
	// Identities that do not fit are cut (those compilers go unverified);
	// none is ever changed into another.
	bool compilersKept = round.server.compilers.size() == s.compilers.size();
	for (std::size_t i = 0; compilersKept && i < s.compilers.size(); ++i) {
		const Compiler &was = s.compilers[i], &is = round.server.compilers[i];
		compilersKept = was.sameVersion(is) && (is.identity == was.identity || is.identity.empty());
	}
	if (!round.problems.empty() || !compilersKept ||
	    round.server.slots != s.slots || round.server.cpus != s.cpus ||
	    round.server.state != s.state || round.server.id != s.id || round.server.listens != s.listens ||
	    round.server.allows != s.allows)
		violated("TXT round trip changed the record");
}

void checkHostsLine(const std::uint8_t *data, std::size_t size)
{
	const std::string_view input(reinterpret_cast<const char *>(data), size);
	const HostsLineParse parsed = parseHostsLine(input);
	if (!parsed.line) {
		if (parsed.error.empty())
			violated("failed parse without an error");
		if (parsed.errorOffset > input.size())
			violated("error offset past the input");
		return;
	}
	const std::string written = writeHostsLine(*parsed.line);
	const HostsLineParse again = parseHostsLine(written);
	if (!again.line || !(*again.line == *parsed.line))
		violated("hosts line round trip changed the hosts");
}

void checkWorks(const std::uint8_t *data, std::size_t size)
{
	const std::string_view all(reinterpret_cast<const char *>(data), size);
	const std::string_view text = all.substr(0, all.find('\0'));
	WorkHistory h;
	h.parse(text);
	if (h.size() > WorkHistory::kMaxEntries)
		violated("more entries than the bound");
	// What parses formats and parses back to the same entries, and a
	// look-up in the formatted text finds each.
	WorkHistory again;
	if (again.parse(h.format()) != 0 || again.size() != h.size() || again.format() != h.format())
		violated("the text form does not round-trip");
	if (const auto m = h.median(); m && !(*m > 0.0 && *m <= WorkHistory::kMaxWork))
		violated("median out of range");
	// The keys the first lines name (or a hash of them), looked up by
	// bisection in the formatted text, and in the raw text, which need not
	// be sorted: no answer there is wrong, but none may crash.
	const std::string formatted = h.format();
	std::string_view rest = text;
	for (int i = 0; i < 8 && !rest.empty(); ++i) {
		const std::string_view line = rest.substr(0, rest.find('\n'));
		rest.remove_prefix(std::min(rest.size(), line.size() + 1));
		const std::uint64_t key = text::parseHex64(line.substr(0, 16)).value_or(WorkHistory::key(line));
		if (WorkHistory::lookup(formatted, key) != h.work(key))
			violated("lookup disagrees with the parsed entries");
		if (const auto w = WorkHistory::lookup(text, key); w && !(*w > 0.0 && *w <= WorkHistory::kMaxWork))
			violated("lookup in raw text out of range");
	}
	if (all.size() == text.size())
		return;
	const std::optional<Placement> p = Placement::parse(all.substr(text.size() + 1));
	if (!p)
		return;
	if (p->speeds.size() != p->line.hosts.size() || p->line.hosts.empty())
		violated("a placement with a speed per entry");
	for (double w : { 0.01, 1.0, 10.0, 1000.0 }) {
		const std::optional<HostsLine> line = p->forWork(w);
		if (line && (line->hosts.empty() || line->hosts.size() >= p->line.hosts.size()))
			violated("a placed line is a non-empty part of the line");
	}
}

} // namespace dmdns::fuzz

// Pure parsers of what Linux and distccd tell about the local host: no I/O.
#include "host/procfs.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>

#include "distcc-mdns/text.h"

namespace dmdns::procfs {

namespace {

// The TXT codec's rules (txt.cpp): a compiler we report must be advertisable.

// PID_MAX_LIMIT: no count of tasks can exceed it.
constexpr std::uint64_t kMaxTasks = 4194304;

bool isSpace(char c) noexcept
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Exactly @digits hex digits, either case.
std::optional<std::uint32_t> parseHex(std::string_view s, std::size_t digits) noexcept
{
	if (s.size() != digits || digits > 8)
		return std::nullopt;
	std::uint32_t value = 0;
	for (char c : s) {
		std::uint32_t d;
		if (c >= '0' && c <= '9')
			d = static_cast<std::uint32_t>(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = static_cast<std::uint32_t>(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = static_cast<std::uint32_t>(c - 'a' + 10);
		else
			return std::nullopt;
		value = value << 4 | d;
	}
	return value;
}

// "0100007F:0E30" or 32 hex digits ":" 4 hex digits.
std::optional<TcpEndpoint> parseEndpoint(std::string_view token) noexcept
{
	const auto colon = token.find(':');
	if (colon == std::string_view::npos)
		return std::nullopt;
	const std::string_view hex = token.substr(0, colon);
	if (hex.size() != 8 && hex.size() != 32)
		return std::nullopt;
	TcpEndpoint end;
	end.ipv6 = hex.size() == 32;
	// The kernel prints each 32-bit word of the address as a host-order
	// integer, so copying the word back in host order restores the bytes.
	for (std::size_t word = 0; word < hex.size() / 8; ++word) {
		auto value = parseHex(hex.substr(word * 8, 8), 8);
		if (!value)
			return std::nullopt;
		std::memcpy(end.address.data() + word * 4, &*value, 4);
	}
	auto port = parseHex(token.substr(colon + 1), 4);
	if (!port)
		return std::nullopt;
	end.port = static_cast<std::uint16_t>(*port);
	return end;
}

// Splits off the next whitespace-separated token of @line.
std::string_view nextToken(std::string_view &line) noexcept
{
	std::size_t begin = 0;
	while (begin < line.size() && isSpace(line[begin]))
		++begin;
	std::size_t end = begin;
	while (end < line.size() && !isSpace(line[end]))
		++end;
	const std::string_view token = line.substr(begin, end - begin);
	line.remove_prefix(end);
	return token;
}

std::optional<TcpEntry> parseTcpLine(std::string_view line) noexcept
{
	// "  12: LOCAL REMOTE ST ...": the header's first token is "sl".
	const std::string_view slot = nextToken(line);
	if (slot.size() < 2 || slot.back() != ':' ||
	    !text::parseUint(slot.substr(0, slot.size() - 1), 0, UINT32_MAX))
		return std::nullopt;
	auto local = parseEndpoint(nextToken(line));
	auto remote = parseEndpoint(nextToken(line));
	auto state = parseHex(nextToken(line), 2);
	if (!local || !remote || !state || local->ipv6 != remote->ipv6)
		return std::nullopt;
	TcpEntry entry{ *local, *remote, static_cast<std::uint8_t>(*state), std::nullopt, 0 };
	// "tx:rx tr:when retrnsmt uid timeout inode": the owner is what tells
	// distccd's listener from anyone else's, so it is taken only when the
	// columns before it have their shape; a line cut short just has none.
	const std::string_view queues = nextToken(line);
	const std::string_view timer = nextToken(line);
	const std::string_view retransmits = nextToken(line);
	const std::string_view uid = nextToken(line);
	nextToken(line); // timeout
	const std::string_view inode = nextToken(line);
	if (queues.find(':') == std::string_view::npos || timer.find(':') == std::string_view::npos ||
	    !parseHex(retransmits, 8))
		return entry;
	if (auto owner = text::parseUint(uid, 0, UINT32_MAX)) {
		entry.uid = static_cast<std::uint32_t>(*owner);
		entry.inode = text::parseUint(inode, 0, UINT64_MAX).value_or(0);
	}
	return entry;
}

std::string_view trimRight(std::string_view s) noexcept
{
	while (!s.empty() && isSpace(s.back()))
		s.remove_suffix(1);
	return s;
}

std::string_view basename(std::string_view path) noexcept
{
	const auto slash = path.rfind('/');
	return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// distccd's options that take a value, long and short (distccd --help, 3.4).
constexpr std::string_view kLongWithValue[] = {
	"--allow",
	"--blacklist",
	"--job-lifetime",
	"--jobs",
	"--listen",
	"--log-file",
	"--log-level",
	"--nice",
	"--pid-file",
	"--port",
	"--stats-port",
	"--user",
	"--whitelist",
};
constexpr std::string_view kShortWithValue = "aNjpP";

void addAllow(DistccdArgs &args, std::string_view value)
{
	auto network = Network::parse(value);
	if (!network || args.allow.size() == kMaxAllow)
		args.allowUnknown = true;
	else if (std::find(args.allow.begin(), args.allow.end(), *network) == args.allow.end())
		args.allow.push_back(*network);
}

} // namespace

std::string TcpEndpoint::addressText() const
{
	char buffer[INET6_ADDRSTRLEN] = {};
	if (!inet_ntop(ipv6 ? AF_INET6 : AF_INET, address.data(), buffer, sizeof buffer))
		return {};
	return buffer;
}

std::string TcpEndpoint::lineAddress() const
{
	std::string text = addressText();
	constexpr std::string_view kMapped = "::ffff:";
	if (ipv6 && text.starts_with(kMapped) && text.find('.') != std::string::npos)
		text.erase(0, kMapped.size());
	return text;
}

std::vector<TcpEntry> parseTcp(std::string_view text, std::size_t maxEntries)
{
	std::vector<TcpEntry> entries;
	while (!text.empty() && entries.size() < maxEntries) {
		const auto newline = text.find('\n');
		const std::string_view line = text.substr(0, newline);
		text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
		if (auto entry = parseTcpLine(line))
			entries.push_back(*entry);
	}
	return entries;
}

bool listening(std::span<const TcpEntry> entries, std::uint16_t port) noexcept
{
	return std::any_of(entries.begin(), entries.end(), [&](const TcpEntry &e) {
		return e.state == kTcpListen && e.local.port == port;
	});
}

std::vector<TcpEntry> listeners(std::span<const TcpEntry> entries, std::uint16_t port)
{
	std::vector<TcpEntry> out;
	for (const TcpEntry &e : entries)
		if (e.state == kTcpListen && e.local.port == port)
			out.push_back(e);
	return out;
}

std::uint32_t established(std::span<const TcpEntry> entries, std::uint16_t port) noexcept
{
	std::uint32_t count = 0;
	for (const TcpEntry &e : entries)
		if (e.state == kTcpEstablished && e.local.port == port)
			++count;
	return count;
}

void countClients(std::span<const TcpEntry> entries, std::uint16_t port, std::map<std::string, std::uint32_t> &counts)
{
	for (const TcpEntry &e : entries)
		if (e.state == kTcpEstablished && e.local.port == port)
			++counts[e.remote.lineAddress()];
}

std::optional<LoadAvg> parseLoadavg(std::string_view text) noexcept
{
	const std::string_view load1 = nextToken(text);
	const std::string_view load5 = nextToken(text);
	const std::string_view load15 = nextToken(text);
	const std::string_view tasks = nextToken(text);
	const std::string_view lastPid = nextToken(text);
	if (lastPid.empty() || !trimRight(text).empty())
		return std::nullopt;

	const auto slash = tasks.find('/');
	if (slash == std::string_view::npos)
		return std::nullopt;
	auto load = text::parseDecimal(load1, 0.0, 1e9);
	auto runnable = text::parseUint(tasks.substr(0, slash), 0, kMaxTasks);
	auto all = text::parseUint(tasks.substr(slash + 1), 0, kMaxTasks);
	if (!load || !text::parseDecimal(load5, 0.0, 1e9) || !text::parseDecimal(load15, 0.0, 1e9) ||
	    !runnable || !all)
		return std::nullopt;
	return LoadAvg{ *load, static_cast<std::uint32_t>(*runnable), static_cast<std::uint32_t>(*all) };
}

std::vector<std::string> splitCmdline(std::string_view raw, std::size_t maxArgs)
{
	std::vector<std::string> argv;
	// Every argument ends in a NUL; the last NUL starts no empty argument.
	while (!raw.empty() && argv.size() < maxArgs) {
		const auto nul = raw.find('\0');
		argv.emplace_back(raw.substr(0, nul));
		raw = nul == std::string_view::npos ? std::string_view{} : raw.substr(nul + 1);
	}
	return argv;
}

std::optional<DistccdArgs> parseDistccd(std::span<const std::string> argv)
{
	if (argv.empty() || basename(argv[0]) != "distccd")
		return std::nullopt;

	DistccdArgs args;
	// popt semantics: a later option overrides an earlier one, a value is
	// either attached (--jobs=4, -j4) or the next argument (--jobs 4, -j 4).
	for (std::size_t i = 1; i < argv.size(); ++i) {
		const std::string_view arg = argv[i];
		if (arg == "--")
			break;
		std::string_view name;
		std::optional<std::string_view> value;
		if (arg.starts_with("--")) {
			const auto eq = arg.find('=');
			name = arg.substr(0, eq);
			if (eq != std::string_view::npos)
				value = arg.substr(eq + 1);
			else if (std::find(std::begin(kLongWithValue), std::end(kLongWithValue), name) !=
				 std::end(kLongWithValue)) {
				if (i + 1 == argv.size())
					return std::nullopt; // popt: missing argument
				value = argv[++i];
			}
		} else if (arg.size() >= 2 && arg[0] == '-' && kShortWithValue.find(arg[1]) != std::string_view::npos) {
			name = arg.substr(0, 2);
			if (arg.size() > 2) {
				value = arg.substr(2);
				if (value->starts_with('='))
					value->remove_prefix(1);
			} else {
				if (i + 1 == argv.size())
					return std::nullopt;
				value = argv[++i];
			}
		} else {
			continue;
		}

		if (name == "--jobs" || name == "-j") {
			auto jobs = text::parseUint(value.value_or(""), 1, kMaxJobs);
			if (!jobs)
				return std::nullopt;
			args.jobs = static_cast<std::uint32_t>(*jobs);
		} else if (name == "--port" || name == "-p") {
			auto port = text::parseUint(value.value_or(""), 1, 65535);
			if (!port)
				return std::nullopt;
			args.port = static_cast<std::uint16_t>(*port);
		} else if (name == "--inetd") {
			args.inetd = true;
		} else if (name == "--listen") {
			// distccd exits on an address it cannot bind: this one runs.
			args.listen = Address::parse(value.value_or(""));
		} else if (name == "--allow" || name == "-a") {
			addAllow(args, value.value_or(""));
		} else if (name == "--allow-private") {
			for (std::string_view network : kPrivateNetworks)
				addAllow(args, network);
		}
	}
	return args;
}

bool validCompilerName(std::string_view name) noexcept
{
	return !name.empty() && name.size() <= 255 && name[0] != '.' && name[0] != '-' &&
	       text::onlyChars(name, "._+-");
}

std::optional<Compiler> parseCompilerOutput(std::string_view dumpMachine, std::string_view dumpVersion)
{
	// One line each; any inner whitespace fails the character check.
	const std::string_view machine = trimRight(dumpMachine);
	const std::string_view version = trimRight(dumpVersion);
	Compiler compiler{ std::string(machine), std::string(version) };
	if (!compiler.valid())
		return std::nullopt;
	return compiler;
}

std::vector<LockedFile> parseLocks(std::string_view text, std::size_t maxEntries)
{
	// "1: POSIX  ADVISORY  WRITE 1234 08:01:131090 0 EOF": the device in hex.
	std::vector<LockedFile> out;
	while (!text.empty() && out.size() < maxEntries) {
		const std::size_t end = text.find('\n');
		const std::string_view line = text.substr(0, end);
		text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
		std::vector<std::string_view> fields;
		for (std::size_t pos = 0; pos < line.size() && fields.size() < 8;) {
			const std::size_t start = line.find_first_not_of(' ', pos);
			if (start == std::string_view::npos)
				break;
			const std::size_t stop = std::min(line.find(' ', start), line.size());
			fields.push_back(line.substr(start, stop - start));
			pos = stop;
		}
		if (fields.size() < 6 || fields[1] == "->")
			continue;
		const std::string_view device = fields[5];
		const std::size_t c1 = device.find(':'), c2 = device.find(':', c1 + 1);
		if (c1 == std::string_view::npos || c2 == std::string_view::npos)
			continue;
		auto hex = [](std::string_view h) -> std::optional<std::uint32_t> {
			std::uint32_t v = 0;
			if (h.empty() || h.size() > 8)
				return std::nullopt;
			for (char c : h) {
				const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
												    : -1;
				if (d < 0)
					return std::nullopt;
				v = v * 16 + static_cast<std::uint32_t>(d);
			}
			return v;
		};
		const auto major = hex(device.substr(0, c1));
		const auto minor = hex(device.substr(c1 + 1, c2 - c1 - 1));
		const auto inode = text::parseUint(device.substr(c2 + 1), 0, UINT64_MAX);
		if (major && minor && inode)
			out.push_back({ *major, *minor, *inode });
	}
	return out;
}

std::optional<ProcessUids> parseStatusUids(std::string_view status)
{
	// "Uid:\tREAL\tEFFECTIVE\tSAVED\tFS" on a line of its own.
	for (std::size_t lines = 0; !status.empty() && lines < 256; ++lines) {
		const std::size_t end = status.find('\n');
		std::string_view line = status.substr(0, end);
		status = end == std::string_view::npos ? std::string_view{} : status.substr(end + 1);
		if (!line.starts_with("Uid:"))
			continue;
		line.remove_prefix(4);
		const auto real = text::parseUint(nextToken(line), 0, UINT32_MAX);
		const auto effective = text::parseUint(nextToken(line), 0, UINT32_MAX);
		if (!real || !effective)
			return std::nullopt;
		return ProcessUids{ static_cast<std::uint32_t>(*real), static_cast<std::uint32_t>(*effective) };
	}
	return std::nullopt;
}

std::optional<std::uint64_t> parseSocketLink(std::string_view target)
{
	constexpr std::string_view prefix = "socket:[";
	if (!target.starts_with(prefix) || !target.ends_with(']'))
		return std::nullopt;
	return text::parseUint(target.substr(prefix.size(), target.size() - prefix.size() - 1), 1, UINT64_MAX);
}

std::optional<StatHead> parseStatHead(std::string_view stat)
{
	const std::size_t close = stat.rfind(')');
	if (close == std::string_view::npos)
		return std::nullopt;
	std::string_view rest = stat.substr(close + 1);
	// " STATE PPID ...": the state is one character.
	if (rest.size() < 4 || rest[0] != ' ' || rest[2] != ' ')
		return std::nullopt;
	const char state = rest[1];
	rest.remove_prefix(3);
	const auto parent = text::parseUint(rest.substr(0, rest.find(' ')), 0, UINT32_MAX);
	if (!parent)
		return std::nullopt;
	return StatHead{ state, *parent };
}

std::optional<std::uint64_t> parseStatParent(std::string_view stat)
{
	const std::optional<StatHead> head = parseStatHead(stat);
	return head ? std::optional(head->parent) : std::nullopt;
}

std::optional<DistccSlot> parseDistccLockName(std::string_view name, std::string_view kind)
{
	// distcc 3.4 (lock.c): kind + "_tcp_" + host + "_" + port + "_" + slot.
	constexpr std::string_view mode = "_tcp_";
	if (kind.empty() || !name.starts_with(kind) || !name.substr(kind.size()).starts_with(mode))
		return std::nullopt;
	name.remove_prefix(kind.size() + mode.size());
	const std::size_t last = name.rfind('_');
	if (last == std::string_view::npos || last == 0)
		return std::nullopt;
	const std::size_t middle = name.rfind('_', last - 1);
	if (middle == std::string_view::npos || middle == 0)
		return std::nullopt;
	const auto slot = text::parseUint(name.substr(last + 1), 0, 1u << 20);
	const auto port = text::parseUint(name.substr(middle + 1, last - middle - 1), 1, 65535);
	if (!slot || !port)
		return std::nullopt;
	return DistccSlot{ std::string(name.substr(0, middle)), static_cast<std::uint16_t>(*port),
			   static_cast<std::uint32_t>(*slot) };
}

} // namespace dmdns::procfs

// The --top screen as text (hosts/top_layout.h).
#include "hosts/top_layout.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace dmdns::top {

namespace {

constexpr std::array<std::pair<SortKey, std::string_view>, 6> kSortKeys = { {
	{ SortKey::Name, "name" },
	{ SortKey::Busy, "busy" },
	{ SortKey::Free, "free" },
	{ SortKey::State, "state" },
	{ SortKey::Speed, "speed" },
	{ SortKey::Age, "age" },
} };

// Eight levels from empty to full; index 0 is "nothing this bucket".
constexpr std::array<std::string_view, 9> kSparkUnicode = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
							    "\u2585", "\u2586", "\u2587", "\u2588" };
constexpr std::array<std::string_view, 9> kSparkAscii = { " ", "_", ".", "-", ":", "=", "+", "*", "#" };

// Names and reasons come from the network: printable ASCII only, so that
// neither the terminal nor a pipe sees control sequences.
std::string clean(std::string_view s, std::size_t max = kMaxText)
{
	std::string out;
	for (const char c : s.substr(0, max))
		out += c >= 0x20 && c < 0x7f ? c : '?';
	return out;
}

// Cuts @s to @width columns, '~' marking a cut.
std::string fit(std::string_view s, std::size_t width)
{
	if (columns(s) <= width)
		return std::string(s);
	std::string out;
	std::size_t used = 0;
	for (std::size_t i = 0; i < s.size();) {
		std::size_t n = 1;
		const auto c = static_cast<unsigned char>(s[i]);
		if (c >= 0xf0)
			n = 4;
		else if (c >= 0xe0)
			n = 3;
		else if (c >= 0xc0)
			n = 2;
		if (used + 1 >= width)
			break;
		out.append(s.substr(i, n));
		++used;
		i += n;
	}
	return width > 0 ? out + "~" : out;
}

// "0.3s", "12s", "5m", "3h"; "-" unknown.
std::string age(std::optional<std::int64_t> ms)
{
	if (!ms)
		return "-";
	const double s = static_cast<double>(std::max<std::int64_t>(*ms, 0)) / 1000.0;
	if (s < 10)
		return fmt::format("{:.1f}s", s);
	if (s < 100)
		return fmt::format("{:.0f}s", s);
	if (s < 6000)
		return fmt::format("{:.0f}m", s / 60);
	return fmt::format("{:.0f}h", std::min(s / 3600, 999.0));
}

std::string count(std::optional<std::uint32_t> n)
{
	return n ? fmt::format("{}", *n) : std::string("-");
}

std::uint32_t busy(const FarmServer &s)
{
	return s.running.value_or(0);
}

std::int64_t freeSlots(const FarmServer &s)
{
	return static_cast<std::int64_t>(s.slots) - busy(s) - s.reserved;
}

int stateRank(const FarmServer &s)
{
	return s.state == "up" ? 0 : s.state == "drain" ? 1
							: 2;
}

std::vector<const FarmServer *> sorted(const Farm &farm, SortKey key)
{
	std::vector<const FarmServer *> out;
	for (const FarmServer &s : farm.servers)
		out.push_back(&s);
	const auto byName = [](const FarmServer *a, const FarmServer *b) { return a->name < b->name; };
	std::stable_sort(out.begin(), out.end(), byName);
	std::stable_sort(out.begin(), out.end(), [key](const FarmServer *a, const FarmServer *b) {
		switch (key) {
		case SortKey::Name:
			return false;
		case SortKey::Busy:
			return busy(*a) > busy(*b);
		case SortKey::Free:
			return freeSlots(*a) > freeSlots(*b);
		case SortKey::State:
			return stateRank(*a) < stateRank(*b);
		case SortKey::Speed:
			return a->speed > b->speed;
		case SortKey::Age:
			return a->ageMs.value_or(INT64_MAX) < b->ageMs.value_or(INT64_MAX);
		}
		return false;
	});
	return out;
}

// Who runs on @s ("c1:3 10.0.0.9:1 +2"), then why this machine's line
// leaves it out.
std::string serverNote(const Farm &farm, const FarmServer &s)
{
	// Why it is left out first: the clients and compilers may not fit.
	std::string out = s.excluded ? fmt::format("({})", clean(*s.excluded)) : std::string();
	for (const ServerClient &c : s.clients) {
		if (!out.empty())
			out += ' ';
		if (c.address.empty()) {
			out += fmt::format("+{}", c.running);
			continue;
		}
		// A client that is no server has no name there; the client
		// rows may know its node (this machine's has its host name).
		std::optional<std::string> name = c.name;
		if (!name && c.client)
			for (const FarmClient &f : farm.clients)
				if (f.id == *c.client && f.name)
					name = f.name;
		out += fmt::format("{}:{}", clean(name.value_or(c.address), 24), c.running);
	}
	if (!s.compilers.empty()) {
		std::string list;
		for (const std::string &c : s.compilers)
			list += (list.empty() ? "" : ",") + clean(c, 40);
		out += (out.empty() ? "" : " ") + fmt::format("[{}]", list);
	}
	return out;
}

std::string serverRow(const Farm &farm, const FarmServer &s, bool unicode)
{
	const std::uint32_t running = busy(s);
	const std::uint32_t queued = running > s.slots ? running - s.slots : 0;
	std::string load = "-";
	if (s.load && s.cpus && *s.cpus > 0)
		load = fmt::format("{:.1f}", std::min(*s.load / *s.cpus, 99.9));
	else if (s.load)
		load = fmt::format("{:.0f}", std::min(*s.load, 9999.0));
	// A sample that is not fresh is marked: the row may be out of date.
	const std::string sampleAge = (s.fresh || !s.ageMs ? "" : "!") + age(s.ageMs);
	return fmt::format("{}{:<12} {:<5} {:>3} {:>3} {:>3} {:>3} {:>4} {:>4} {:>5} {} {} {}", s.local ? '*' : ' ',
			   fit(clean(s.name), 12), fit(clean(s.state), 5), s.slots,
			   s.running ? fmt::format("{}", running - queued) : std::string("-"), s.reserved, queued,
			   load, fmt::format("{:.1f}", std::min(s.speed, 99.9)), sampleAge,
			   busyBar(running, s.reserved, s.slots, unicode),
			   sparkline(s.busyHistory, s.slots, unicode), serverNote(farm, s));
}

std::string clientName(const FarmClient &c)
{
	if (c.name)
		return clean(*c.name);
	if (c.address)
		return clean(*c.address);
	return clean(c.id.substr(0, 8));
}

std::string clientRow(const FarmClient &c, bool unicode)
{
	// Shares are scaled to the largest one in the history.
	std::uint32_t top = 1;
	for (const std::uint32_t v : c.shareHistory)
		top = std::max(top, v);
	return fmt::format("{}{:<16} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {}", c.self ? '*' : ' ',
			   fit(clientName(c), 16), c.want, c.localSlots,
			   c.share ? fmt::format("{}", *c.share) : std::string("all"), c.holding, count(c.running),
			   count(c.localJobs), age(c.ageMs), sparkline(c.shareHistory, top, unicode));
}

std::string jobRow(const client::DistccJob &j)
{
	// HOST[SLOT], as distccmon-text writes it.
	const std::string host = fmt::format("{}[{}]", j.host, j.slot);
	// distcc names no file before it has preprocessed one.
	return fmt::format("  {:>7} {:<28} {:<20} {:<10} {:>4}s", j.pid, j.file.empty() ? "-" : fit(clean(j.file), 28),
			   fit(clean(host), 20),
			   client::phaseName(j.phase), j.inPhase.count());
}

} // namespace

std::optional<SortKey> sortKeyOf(char key) noexcept
{
	switch (key) {
	case 'n':
		return SortKey::Name;
	case 'b':
		return SortKey::Busy;
	case 'f':
		return SortKey::Free;
	case 's':
		return SortKey::State;
	case 'p':
		return SortKey::Speed;
	case 'a':
		return SortKey::Age;
	default:
		return std::nullopt;
	}
}

std::optional<SortKey> parseSortKey(std::string_view name) noexcept
{
	for (const auto &[key, text] : kSortKeys)
		if (text == name)
			return key;
	return std::nullopt;
}

std::string_view sortKeyName(SortKey key) noexcept
{
	for (const auto &[k, text] : kSortKeys)
		if (k == key)
			return text;
	return "name";
}

std::size_t columns(std::string_view s) noexcept
{
	std::size_t n = 0;
	for (const char c : s)
		if ((static_cast<unsigned char>(c) & 0xc0) != 0x80)
			++n;
	return n;
}

std::string sparkline(std::span<const std::uint32_t> history, std::uint32_t full, bool unicode)
{
	const auto &glyphs = unicode ? kSparkUnicode : kSparkAscii;
	std::string out;
	// Buckets end at the newest second: the rightmost is always current.
	const std::size_t n = history.size();
	for (std::size_t b = kSparkWidth; b-- > 0;) {
		const std::size_t end = n > b * kSparkSeconds ? n - b * kSparkSeconds : 0;
		const std::size_t begin = end > kSparkSeconds ? end - kSparkSeconds : 0;
		if (begin == end) {
			out += glyphs[0];
			continue;
		}
		const std::uint32_t top = *std::max_element(history.begin() + begin, history.begin() + end);
		// Level 1 is an idle second; 8 is all slots (or more) busy.
		const std::uint32_t level =
			full == 0 ? 1
				  : 1 + static_cast<std::uint32_t>(std::min<std::uint64_t>(
						7, (static_cast<std::uint64_t>(top) * 7 + full - 1) / full));
		out += glyphs[level];
	}
	return out;
}

std::string busyBar(std::uint32_t busy, std::uint32_t reserved, std::uint32_t slots, bool unicode)
{
	// Whole cells, rounded up, so that one busy slot of many still shows.
	const auto cells = [slots](std::uint64_t n) {
		return slots == 0 ? std::size_t{ 0 }
				  : static_cast<std::size_t>(std::min<std::uint64_t>(
					    kBarWidth, (n * kBarWidth + slots - 1) / slots));
	};
	const std::size_t b = cells(busy);
	const std::size_t r = std::min(kBarWidth - b, cells(std::uint64_t{ busy } + reserved) - b);
	std::string out;
	for (std::size_t i = 0; i < kBarWidth; ++i)
		out += i < b ? (unicode ? "\u2588" : "#") : i < b + r ? (unicode ? "\u2592" : "+")
								      : ".";
	return out;
}

Screen layoutTop(const Farm &farm, std::span<const client::DistccJob> jobs, const LayoutOptions &o)
{
	Screen screen;
	const std::size_t width = static_cast<std::size_t>(std::max(o.width, 20));
	const auto add = [&](std::string line) { screen.lines.push_back(fit(line, width)); };
	const FarmTotals &t = farm.totals;

	add(fmt::format("distcc-mdns top: {} (node {}) seq {}  sort {}", clean(farm.host, 64),
			clean(farm.node.substr(0, 8)), farm.seq, sortKeyName(o.sort)));
	add(fmt::format("farm: {}/{} up  slots {} busy {} rsvd {} ({:.0f}%)  clients {} want {} waiting {}",
			t.up, t.servers, t.slots, t.busy, t.reserved, std::clamp(t.utilisation, 0.0, 10.0) * 100,
			t.clients, t.wanted, t.waiting));
	add(fmt::format("line: {} (-j{})", clean(farm.line), farm.jobs));
	if (!o.note.empty())
		add("! " + clean(o.note));

	// Rows to share out: the header lines above, two section headers,
	// the keys line; the rest goes to servers first.
	const std::size_t fixed = screen.lines.size() + 1 + (o.keys ? 1 : 0);
	const bool limited = o.height > 0;
	const std::size_t avail = limited && static_cast<std::size_t>(o.height) > fixed
					  ? static_cast<std::size_t>(o.height) - fixed
					  : 0;
	const std::size_t nServers = farm.servers.size(), nClients = farm.clients.size(), nJobs = jobs.size();
	std::size_t serverRows = nServers, clientRows = nClients, jobRows = nJobs;
	if (limited) {
		// Servers first, but clients and jobs keep a few rows each (and
		// their headers); what the servers leave goes to them too.
		clientRows = std::min(nClients, std::max<std::size_t>(2, avail / 4));
		jobRows = std::min(nJobs, std::max<std::size_t>(2, avail / 6));
		const auto cost = [&] {
			return std::max<std::size_t>(serverRows, nServers == 0 ? 1 : 0) +
			       (clientRows ? clientRows + 1 : 0) + (jobRows ? jobRows + 1 : 0);
		};
		serverRows = 0;
		const std::size_t others = cost();
		serverRows = std::min(nServers, avail > others ? avail - others : std::min<std::size_t>(nServers, 3));
		// A small terminal: jobs give way, then clients, then servers.
		while (cost() > avail && jobRows > 0)
			--jobRows;
		while (cost() > avail && clientRows > 0)
			--clientRows;
		while (cost() > avail && serverRows > 0)
			--serverRows;
		std::size_t left = avail - std::min(avail, cost());
		const std::size_t moreClients = std::min(nClients - clientRows, left);
		clientRows += moreClients;
		left -= moreClients;
		if (jobRows > 0 || left > 1)
			jobRows += std::min(nJobs - jobRows, jobRows > 0 ? left : left - 1);
	}

	const auto more = [&](std::size_t shown, std::size_t all, std::string_view what) {
		// The last row says what does not fit instead.
		add(fmt::format("  ... {} more {}", all - shown + 1, what));
	};

	add(fmt::format(" {:<12} {:<5} {:>3} {:>3} {:>3} {:>3} {:>4} {:>4} {:>5} {:<{}} {:<{}} {}", "SERVER", "STATE",
			"SLT", "RUN", "RES", "QUE", "LOAD", "SPD", "AGE", "BUSY", kBarWidth, "HISTORY", kSparkWidth,
			"CLIENTS"));
	const std::vector<const FarmServer *> servers = sorted(farm, o.sort);
	for (std::size_t i = 0; i < serverRows; ++i) {
		if (i + 1 == serverRows && serverRows < nServers) {
			more(serverRows, nServers + farm.serversCut, "servers");
			break;
		}
		if (servers[i]->local)
			screen.marked.push_back(screen.lines.size());
		add(serverRow(farm, *servers[i], o.unicode));
	}
	if (nServers == 0)
		add("  (no servers known yet)");

	if (clientRows > 0) {
		add(fmt::format(" {:<16} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {}", "CLIENT", "WANT", "LOCAL",
				"SHARE", "HOLD", "RUN", "LJOBS", "AGE", "SHARE-HISTORY"));
		std::vector<const FarmClient *> clients;
		for (const FarmClient &c : farm.clients)
			clients.push_back(&c);
		std::stable_sort(clients.begin(), clients.end(), [](const FarmClient *a, const FarmClient *b) {
			return a->want != b->want ? a->want > b->want : clientName(*a) < clientName(*b);
		});
		for (std::size_t i = 0; i < clientRows; ++i) {
			if (i + 1 == clientRows && clientRows < nClients) {
				more(clientRows, nClients + farm.clientsCut, "clients");
				break;
			}
			if (clients[i]->self)
				screen.marked.push_back(screen.lines.size());
			add(clientRow(*clients[i], o.unicode));
		}
	}

	if (jobRows > 0) {
		add(fmt::format("  {:>7} {:<28} {:<20} {:<10} {:>5}", "PID", "YOUR DISTCC JOBS", "HOST", "PHASE", "FOR"));
		for (std::size_t i = 0; i < jobRows; ++i) {
			if (i + 1 == jobRows && jobRows < nJobs) {
				more(jobRows, nJobs, "jobs");
				break;
			}
			add(jobRow(jobs[i]));
		}
	}

	if (o.keys) {
		if (limited)
			while (screen.lines.size() + 1 < static_cast<std::size_t>(o.height))
				screen.lines.emplace_back();
		add("q quit  sort: n name  b busy  f free  s state  p speed  a age");
	}
	return screen;
}

} // namespace dmdns::top

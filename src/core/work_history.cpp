// The work distcc-mdns-run remembers per compile, and the placement rule (include/distcc-mdns/work_history.h).
#include "distcc-mdns/work_history.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "distcc-mdns/server.h"
#include "distcc-mdns/text.h"

namespace dmdns {

namespace {

// The smallest work written: formatDecimal() keeps 3 decimals.
constexpr double kMinWork = 0.001;

// Bounds the doubled limits of Placement::forWork().
constexpr std::uint32_t kMaxExtraLimit = 1000;

// The words of @line split at single spaces; nullopt unless exactly @n.
std::optional<std::vector<std::string_view>> words(std::string_view line, std::size_t n)
{
	std::vector<std::string_view> out;
	while (out.size() <= n) {
		const auto space = line.find(' ');
		out.push_back(line.substr(0, space));
		if (space == std::string_view::npos)
			break;
		line.remove_prefix(space + 1);
	}
	if (out.size() != n || std::any_of(out.begin(), out.end(), [](std::string_view w) { return w.empty(); }))
		return std::nullopt;
	return out;
}

} // namespace

std::uint64_t WorkHistory::key(std::string_view path) noexcept
{
	std::uint64_t h = 0xcbf29ce484222325ull;
	for (unsigned char c : path) {
		h ^= c;
		h *= 0x100000001b3ull;
	}
	return h;
}

std::size_t WorkHistory::parse(std::string_view text)
{
	std::size_t bad = 0;
	while (!text.empty()) {
		const auto eol = text.find('\n');
		const std::string_view line = text.substr(0, eol);
		text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
		if (line.empty() || line.front() == '#')
			continue;
		const auto w = words(line, 3);
		const auto key = w ? text::parseHex64((*w)[0]) : std::nullopt;
		const auto work = w ? text::parseDecimal((*w)[1], kMinWork, kMaxWork) : std::nullopt;
		const auto generation = w ? text::parseUint((*w)[2], 0, std::numeric_limits<std::uint32_t>::max())
					  : std::nullopt;
		if (!key || !work || !generation) {
			++bad;
			continue;
		}
		const auto g = static_cast<std::uint32_t>(*generation);
		newest_ = std::max(newest_, g);
		put(*key, { *work, g });
	}
	bound();
	return bad;
}

std::string WorkHistory::format() const
{
	std::string out = "# distcc-mdns-run: the work of each compile (KEY WORK GENERATION)\n";
	for (const auto &[key, e] : entries_)
		out += fmt::format("{:016x} {} {}\n", key, text::formatDecimal(e.work), e.generation);
	return out;
}

void WorkHistory::record(std::uint64_t key, double work)
{
	if (!(work >= kMinWork) || !(work <= kMaxWork))
		return;
	// One generation per build: the first record opens it (saturating, a
	// history is not kept for 4 billion builds).
	if (!recorded_ && newest_ < std::numeric_limits<std::uint32_t>::max())
		++newest_;
	recorded_ = true;
	put(key, { work, newest_ });
	bound();
}

void WorkHistory::update(const WorkHistory &newer)
{
	for (const auto &[key, e] : newer.entries_)
		record(key, e.work);
}

std::optional<double> WorkHistory::work(std::uint64_t key) const
{
	const auto it = entries_.find(key);
	return it == entries_.end() ? std::nullopt : std::optional<double>(it->second.work);
}

std::optional<double> WorkHistory::lookup(std::string_view text, std::uint64_t key)
{
	// The key a line starts with; a header, comment or malformed key sorts
	// first, as format() writes its header first.
	const auto lineKey = [&](std::size_t at) -> std::optional<std::uint64_t> {
		const std::string_view head = text.substr(at, 17);
		return head.size() == 17 && head[16] == ' ' ? text::parseHex64(head.substr(0, 16)) : std::nullopt;
	};
	const auto lineEnd = [&](std::size_t at) { return std::min(text.find('\n', at), text.size()); };
	// The first line that starts at @at or later.
	const auto lineStart = [&](std::size_t at) { return at == 0 ? 0 : std::min(lineEnd(at - 1) + 1, text.size()); };
	// Bisection over byte offsets: every line that starts before lo has a
	// smaller key, and every line that starts at hi or later has no
	// smaller key. The first line at lo or later is then the first with
	// @key, if any has it.
	std::size_t lo = 0, hi = text.size();
	while (lo < hi) {
		const std::size_t mid = lo + (hi - lo) / 2;
		const std::size_t at = lineStart(mid);
		if (at >= hi) {
			hi = mid;
			continue;
		}
		const auto k = lineKey(at);
		if (!k || *k < key)
			lo = std::min(lineEnd(at) + 1, text.size());
		else
			hi = mid;
	}
	// The lines with @key (one in a file format() wrote); the first that
	// parses wins.
	for (std::size_t at = lineStart(lo), n = 0; at < text.size() && n < kMaxDuplicates; ++n) {
		if (lineKey(at) != key)
			break;
		const std::size_t end = lineEnd(at);
		WorkHistory one;
		if (one.parse(text.substr(at, end - at)) == 0)
			return one.work(key);
		at = end + 1;
	}
	return std::nullopt;
}

std::optional<double> WorkHistory::median() const
{
	if (entries_.empty())
		return std::nullopt;
	std::vector<double> works;
	works.reserve(entries_.size());
	for (const auto &[key, e] : entries_)
		works.push_back(e.work);
	const auto mid = works.begin() + static_cast<std::ptrdiff_t>(works.size() / 2);
	std::nth_element(works.begin(), mid, works.end());
	return *mid;
}

void WorkHistory::put(std::uint64_t key, Entry entry)
{
	entries_[key] = entry;
}

void WorkHistory::bound()
{
	if (entries_.size() <= kMaxEntries)
		return;
	// Drop the oldest generations: find the generation at which the
	// newest kMaxEntries begin, then drop older ones and, within it, the
	// lowest keys.
	std::vector<std::uint32_t> generations;
	generations.reserve(entries_.size());
	for (const auto &[key, e] : entries_)
		generations.push_back(e.generation);
	const std::size_t drop = entries_.size() - kMaxEntries;
	std::nth_element(generations.begin(), generations.begin() + static_cast<std::ptrdiff_t>(drop - 1),
			 generations.end());
	const std::uint32_t cut = generations[drop - 1];
	std::size_t dropped = 0;
	for (auto it = entries_.begin(); it != entries_.end() && dropped < drop;)
		if (it->second.generation < cut) {
			it = entries_.erase(it);
			++dropped;
		} else {
			++it;
		}
	for (auto it = entries_.begin(); it != entries_.end() && dropped < drop;)
		if (it->second.generation == cut) {
			it = entries_.erase(it);
			++dropped;
		} else {
			++it;
		}
}

std::string Placement::format() const
{
	std::string out = fmt::format("median {}\nspeeds", text::formatDecimal(median));
	for (double s : speeds)
		out += " " + text::formatDecimal(s);
	return out + fmt::format("\nhosts {}\n", writeHostsLine(line));
}

std::optional<Placement> Placement::parse(std::string_view text)
{
	std::vector<std::string_view> lines;
	while (!text.empty() && lines.size() <= 3) {
		const auto eol = text.find('\n');
		lines.push_back(text.substr(0, eol));
		text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
	}
	if (lines.size() != 3 || !lines[0].starts_with("median ") || !lines[1].starts_with("speeds") ||
	    !lines[2].starts_with("hosts "))
		return std::nullopt;
	Placement p;
	const auto median = text::parseDecimal(lines[0].substr(7), 0.0, WorkHistory::kMaxWork);
	HostsLineParse parsed = parseHostsLine(lines[2].substr(6));
	if (!median || !parsed.line || parsed.line->hosts.empty())
		return std::nullopt;
	p.median = *median;
	p.line = std::move(*parsed.line);
	// "speeds", then one per entry.
	const auto speeds = words(lines[1], p.line.hosts.size() + 1);
	if (!speeds || (*speeds)[0] != "speeds")
		return std::nullopt;
	for (std::size_t i = 1; i < speeds->size(); ++i) {
		const auto speed = text::parseDecimal((*speeds)[i], kMinSpeed, kMaxSpeed);
		if (!speed)
			return std::nullopt;
		p.speeds.push_back(*speed);
	}
	if (p.speeds.size() != p.line.hosts.size())
		return std::nullopt;
	return p;
}

std::optional<HostsLine> Placement::forWork(double work) const
{
	if (speeds.size() != line.hosts.size() || speeds.empty() || !(work > 0.0) || !(median > 0.0))
		return std::nullopt;
	const double fastest = *std::max_element(speeds.begin(), speeds.end());
	const double patience = median / fastest;
	HostsLine out = line;
	out.hosts.clear();
	for (std::size_t i = 0; i < line.hosts.size(); ++i)
		if (work / speeds[i] - work / fastest <= patience + 1e-9)
			out.hosts.push_back(line.hosts[i]);
	if (out.hosts.size() == line.hosts.size())
		return std::nullopt;
	// Slots of their own there: a slot the build's other jobs free goes
	// at once to the next job make starts, and a long compile that
	// waited for one could wait until make had none left.
	for (HostSpec &spec : out.hosts)
		spec.limit = std::min<std::uint32_t>(2 * spec.effectiveLimit(), kMaxExtraLimit);
	return out;
}

} // namespace dmdns

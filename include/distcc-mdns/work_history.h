// What distcc-mdns-run remembers of each compile (its work), and where a compile of known work may go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "distcc-mdns/hosts_line.h"

namespace dmdns {

// The work of each object a build compiled: seconds of one CPU at speed 1,
// keyed by a hash of the object's absolute path. Compile times are heavy-
// tailed and stable from one build of a tree to the next; knowing them,
// the runner keeps a long compile off slow servers, where it would end the
// build (the rule is Placement::forWork()).
//
// The text form, one entry a line, '#' lines ignored:
//   KEY WORK GENERATION
// KEY: 16 lowercase hex digits; WORK: a decimal in (0, kMaxWork] with at
// most 3 decimals; GENERATION: the build that measured it last (a count).
// Bounded: at most kMaxEntries, the oldest generations dropped first.
class WorkHistory final
{
public:
	static constexpr std::size_t kMaxEntries = 65536;
	// Longer than any compile; a larger value is refused.
	static constexpr double kMaxWork = 86400.0;
	// A file longer than this is not read (a full one is about 2 MiB).
	static constexpr std::size_t kMaxBytes = 4u << 20;
	// How many lines of one key lookup() tries.
	static constexpr std::size_t kMaxDuplicates = 16;

	// FNV-1a, 64 bits: a stable name for @path, not a secret.
	static std::uint64_t key(std::string_view path) noexcept;

	// Adds the entries of @text; returns how many lines were refused.
	std::size_t parse(std::string_view text);
	// Every entry, sorted by key, after a header line.
	std::string format() const;

	// Records @work for @key in the generation after the newest read, and
	// drops the oldest entries past kMaxEntries. A work out of range is
	// ignored.
	void record(std::uint64_t key, double work);
	// Takes every entry of @newer (measured later) over this one's.
	void update(const WorkHistory &newer);

	std::optional<double> work(std::uint64_t key) const;
	// The work of @key in @text, the form format() writes (sorted by key),
	// found by bisection: what one compile looks up in a file of many
	// touches a few lines of it. In text not so sorted it may miss.
	static std::optional<double> lookup(std::string_view text, std::uint64_t key);
	// The median work of all entries; nullopt when empty.
	std::optional<double> median() const;
	std::size_t size() const noexcept { return entries_.size(); }
	bool empty() const noexcept { return entries_.empty(); }

private:
	struct Entry {
		double work = 0.0;
		std::uint32_t generation = 0;
	};

	void put(std::uint64_t key, Entry entry);
	void bound();

	std::map<std::uint64_t, Entry> entries_;
	std::uint32_t newest_ = 0; // the newest generation read or recorded
	bool recorded_ = false;	   // whether this one recorded into newest_
};

// What the runner tells the build's compiles about its hosts line
// (DISTCC_DIR/placement), so that each can choose before distcc picks:
//   median WORK
//   speeds SPEED...       (one per entry of the line, in order)
//   hosts LINE
struct Placement {
	HostsLine line;
	std::vector<double> speeds; // what one more job would get there now
	double median = 0.0;	    // the median remembered work

	std::string format() const;
	// nullopt for anything but the form above with one speed per entry.
	static std::optional<Placement> parse(std::string_view text);

	// The rule (also in distcc-mdns-run(1)): a compile of remembered
	// @work goes only to the entries where it would take at most one
	// median compile on the fastest entry longer than on that fastest
	// one, work / s - work / f <= median / f; that wait is about what a
	// slot there takes to free up. Short compiles go anywhere; a long one
	// goes only there, with each entry's limit doubled: the extra slots
	// are the long compiles' own, since a slot the build's other jobs free
	// goes at once to the next job make starts, and a long compile that
	// waited for one could wait until make had none left. It shares the fast server's CPUs
	// rather than end the build on a slow one (under processor sharing
	// the server does as much work a second either way). Speeds are what
	// one more job would get there now, so a fast server that its jobs
	// fill up stops keeping the others out. nullopt when every entry
	// qualifies (the line stays as it is).
	std::optional<HostsLine> forWork(double work) const;
};

} // namespace dmdns

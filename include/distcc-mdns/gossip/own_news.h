// This node's own word (its sample, demand and reservations) and the rounds each still goes out in.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "distcc-mdns/directory.h"
#include "distcc-mdns/gossip/jobs_table.h"
#include "distcc-mdns/gossip_wire.h"

namespace dmdns::gossip {

// Milliseconds from @origin to @now, within what the wire carries.
std::uint32_t ageMs(SteadyTime origin, SteadyTime now) noexcept;
// Counters stop short of the wire's bound instead of wrapping.
std::uint64_t bump(std::uint64_t &counter) noexcept;

// What OwnNews takes of GossipConfig (which see).
struct OwnNewsSettings {
	std::uint64_t node = 0;
	std::uint64_t incarnation = 1;
	unsigned newsTransmits = 2;
	std::chrono::milliseconds demandRefresh{ 1000 };
	std::chrono::milliseconds reservationTtl{ 2000 };
	std::size_t maxReservations = 4096;
	// Speed reports: one per server at most every speedRefresh, at most
	// speedPerRound in a round, the speedInState newest in a push-pull.
	std::chrono::milliseconds speedRefresh{ 1000 };
	std::size_t speedPerRound = 4;
	std::size_t speedInState = 32;
	std::size_t maxSpeedReports = 512;
	// A changed client list is originated at most this often (a build
	// moves it with every job; each peer gets it on a paced turn); own local jobs are said again this often unchanged,
	// so that receivers, which forget them after forgetAfter, keep them.
	std::chrono::milliseconds clientsInterval{ 10000 };
	std::chrono::milliseconds localJobsRefresh{ 20000 };
	unsigned clientsTransmits = 1;
};

// The transmit queue of what this node says of itself: every new word goes
// to the peers in a few rounds (newsTransmits), except the load, which each
// peer gets on its own paced turn (paced(): the newest load or a heartbeat,
// as a compact Load once the full Sample went out); the whole of it answers
// a push-pull. Owns the sequence numbers of its records.
class OwnNews final
{
public:
	explicit OwnNews(const OwnNewsSettings &settings);

	// A server's own load: fills in the id, incarnation and sequence. An
	// unchanged load is no news: it only marks when it was last measured,
	// which the next paced() turns into a heartbeat. Throws
	// std::invalid_argument when the sample, brought into the wire's bounds,
	// is still invalid.
	void setSample(wire::Sample sample, SteadyTime now);
	// The digest of the TXT this server advertises (txtProfileDigest): it
	// goes out as a PROFILE wherever the full Sample goes; a new one sends
	// the full Sample again.
	void setProfile(std::uint64_t digest, SteadyTime now);
	void setDemand(std::uint32_t wanted, std::uint32_t localSlots, SteadyTime now);
	// Replaces this client's reservation on @server; returns whether an
	// older one on another server was dropped to stay within
	// maxReservations.
	bool reserve(std::uint64_t server, std::uint32_t count, SteadyTime now);
	// This client's window on @server changed (its mean ln job time and
	// the decayed jobs behind it, as of @now): it goes out as a Speed
	// record, at once or when speedRefresh has passed since the last one.
	void setSpeed(std::uint64_t server, double logTime, double jobs, SteadyTime now);
	// This server's clients as the daemon measured them now (busiest
	// first, at most kMaxClientEntries, the rest in @others): a changed
	// list goes out as CLIENTS records at the next round that is at least
	// clientsInterval after the last one. An empty list goes out only to
	// replace a non-empty one.
	void setClients(std::vector<wire::ClientEntry> entries, std::uint32_t others);
	// This client's compiles running on its own machine.
	void setLocalJobs(std::uint32_t jobs);
	// Something said this node left, or told a newer word of its own: say
	// its own again.
	void refute(const wire::Record &record, SteadyTime now);
	// Answering a request: the sample goes with a newer sequence, which
	// tells a prober that this node's stream goes on.
	void restamp(SteadyTime now);
	// A demand still wanted is renewed every demandRefresh, so that it does
	// not expire elsewhere.
	void renewDemand(SteadyTime now);
	void expire(SteadyTime now);

	// This round's news: each record still due, one transmit spent.
	std::vector<wire::Record> round(SteadyTime now);
	// The load for one peer whose paced turn it is: the newest, with a new
	// sequence if a later measurement found it unchanged (a heartbeat).
	std::vector<wire::Record> paced(SteadyTime now);
	// Whether the load changed within @within and has not been announced
	// (sent to every peer at once) since; announce() marks it so.
	bool newLoad(SteadyTime now, std::chrono::milliseconds within) const noexcept
	{
		return changed_ > announced_ && now - changedAt_ <= within;
	}
	void announce() noexcept { announced_ = changed_; }
	// The own client list as last originated, as CLIENTS records; empty
	// before the first.
	std::vector<wire::Record> clientParts() const;
	// Everything this node says of itself now (a push-pull's own part):
	// its client list with @list, its local jobs with @local (a hello; else
	// rounds carry them, and their refresh keeps them, at less cost).
	std::vector<wire::Record> state(SteadyTime now, bool list = true, bool local = false) const;

	// The own sample (ageMs meaningless) and when it was made.
	const std::optional<wire::Sample> &sample() const noexcept { return sample_; }
	SteadyTime sampleOrigin() const noexcept { return sampleOrigin_; }
	// The own sample with its age as of @now.
	std::optional<wire::Sample> sampleAt(SteadyTime now) const;
	const wire::Demand *demand() const noexcept;
	// The own client list as last measured (what setClients gave), and the
	// own local jobs; empty before the first.
	const std::optional<JobsTable::List> &clients() const noexcept { return clientsWanted_; }
	std::optional<std::uint32_t> localJobs() const noexcept { return localWanted_; }
	// The sequence of the own client list as last originated; 0: none yet.
	std::uint64_t clientsSequence() const noexcept { return clients_ ? clients_->sequence : 0; }
	std::optional<wire::Profile> profile() const;

private:
	void speedRound(std::vector<wire::Record> &news, SteadyTime now);
	void jobsRound(std::vector<wire::Record> &news, SteadyTime now);

	struct Entry {
		wire::Record record;
		SteadyTime origin{};
		unsigned transmits = 0;
	};

	OwnNewsSettings settings_;
	std::optional<wire::Sample> sample_;
	SteadyTime sampleOrigin_{};
	SteadyTime measured_{};			    // the newest setSample, changed or not
	std::uint64_t changed_ = 0, announced_ = 0; // sequences of the newest changed load, of the last announced
	SteadyTime changedAt_{};
	unsigned sampleTransmits_ = 0;
	bool compact_ = false;		   // only its load changed: a Load carries it
	std::uint64_t sampleSequence_ = 0; // of own samples
	std::uint64_t sequence_ = 0;	   // of own reservations and demand
	std::optional<std::uint64_t> profile_;
	std::optional<Entry> demand_;
	std::map<std::uint64_t, Entry> reservations_;
	struct SpeedEntry {
		Entry entry;	      // the record as last originated
		bool pending = false; // changed since: originate when due
		double logTime = 0.0; // the newest window
		std::uint32_t jobs = 1;
		SteadyTime updated{};
	};
	std::map<std::uint64_t, SpeedEntry> speeds_;
	std::uint64_t speedCursor_ = 0;		       // the server whose report went out last
	std::optional<JobsTable::List> clientsWanted_; // measured; its counters unset
	std::optional<JobsTable::List> clients_;       // as last originated
	SteadyTime clientsOrigin_{};
	std::uint64_t clientsSequence_ = 0; // of own client lists
	std::optional<std::uint32_t> localWanted_;
	std::optional<Entry> local_; // a LocalJobs as last originated
};

} // namespace dmdns::gossip

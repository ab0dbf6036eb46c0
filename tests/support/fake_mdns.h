// Avahi stand-ins: a publisher that records what is published and a browser the test feeds with instances.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "avahi/mdns.h"

namespace dmdns::test {

class FakeMdns;

// Records each publish, TXT update and withdrawal, as avahi-daemon would
// see them.
class FakePublisher final : public avahi::Publishing
{
public:
	struct Event {
		enum class Kind {
			Publish,
			Txt,
			Withdraw
		};
		Kind kind;
		std::string name;
		std::vector<std::string> txt;
	};
	// Bounded: a test that publishes more than this is broken.
	static constexpr std::size_t kMaxEvents = 4096;

	explicit FakePublisher(FakeMdns &mdns);
	~FakePublisher() override;

	FakePublisher(const FakePublisher &) = delete;
	FakePublisher &operator=(const FakePublisher &) = delete;

	void publish(avahi::ServiceSpec spec) override;
	void updateTxt(std::vector<std::string> txt) override;
	void withdraw() override;
	bool wanted() const noexcept override { return spec_.has_value(); }
	const std::string &name() const noexcept override { return name_; }

	// Another host holds the name: as avahi::Publisher does, takes
	// avahi::alternativeName() and publishes the service again under it.
	void collide();

	// What is published now, under name().
	const std::optional<avahi::ServiceSpec> &spec() const noexcept { return spec_; }
	const std::vector<Event> &events() const noexcept { return events_; }
	// The type last published, kept after a withdrawal.
	const std::string &type() const noexcept { return type_; }

private:
	void record(Event::Kind kind);

	FakeMdns &mdns_;
	std::optional<avahi::ServiceSpec> spec_;
	std::string name_;
	std::string type_;
	std::vector<Event> events_;
};

// Hands the test's instances to its handler and records what the handler
// asks of it.
class FakeBrowser final : public avahi::Browsing
{
public:
	// One reresolve() call: of one key, or of a name on every interface.
	struct Reresolve {
		std::optional<InstanceKey> key;
		std::string name;
		std::string domain;
		std::chrono::milliseconds delay;
	};
	static constexpr std::size_t kMaxReresolves = 4096;

	FakeBrowser(FakeMdns &mdns, std::string type, avahi::BrowserHandler &handler, std::string domain = {});
	~FakeBrowser() override;

	FakeBrowser(const FakeBrowser &) = delete;
	FakeBrowser &operator=(const FakeBrowser &) = delete;

	void reresolve(const InstanceKey &key, std::chrono::milliseconds delay) override;
	void reresolve(std::string_view name, std::string_view domain, std::chrono::milliseconds delay) override;
	std::size_t unresolved() const noexcept override { return unresolved_; }
	bool allForNowSeen() const noexcept override { return allForNow_; }

	const std::string &type() const noexcept { return type_; }
	const std::string &domain() const noexcept { return domain_; } // "": the default

	// The test side: what Avahi would report.
	void resolve(const ResolvedInstance &instance) { handler_.instanceResolved(instance); }
	void remove(const InstanceKey &key) { handler_.instanceRemoved(key); }
	void allForNow();
	void reset();
	void setUnresolved(std::size_t n) noexcept { unresolved_ = n; }

	// What the handler asked, oldest first; taken, the record starts anew.
	std::vector<Reresolve> takeReresolves() { return std::exchange(reresolves_, {}); }

private:
	void record(Reresolve r);

	FakeMdns &mdns_;
	const std::string type_;
	const std::string domain_;
	avahi::BrowserHandler &handler_;
	std::size_t unresolved_ = 0;
	bool allForNow_ = false;
	std::vector<Reresolve> reresolves_;
};

// Makes fake publishers and browsers and finds them for the test.
class FakeMdns final : public avahi::Mdns
{
public:
	FakeMdns() = default;
	FakeMdns(const FakeMdns &) = delete;
	FakeMdns &operator=(const FakeMdns &) = delete;

	std::unique_ptr<avahi::Publishing> publisher() override;
	std::unique_ptr<avahi::Browsing> browse(std::string type, avahi::BrowserHandler &handler,
						std::string domain = {}) override;

	// The publisher that last published a service of @type, withdrawn
	// since or not; throws if none did.
	FakePublisher &published(std::string_view type) const;
	// The browser of @type in @domain ("": the default); throws if there
	// is none.
	FakeBrowser &browser(std::string_view type, std::string_view domain = {}) const;
	std::size_t browsers() const noexcept { return browsers_.size(); }
	std::size_t publishers() const noexcept { return publishers_.size(); }

private:
	friend class FakePublisher;
	friend class FakeBrowser;

	std::vector<FakePublisher *> publishers_;
	std::vector<FakeBrowser *> browsers_;
};

} // namespace dmdns::test

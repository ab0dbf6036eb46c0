// Browses one DNS-SD service type and keeps following every instance found.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <avahi-client/lookup.h>

#include <chrono>
#include <optional>

#include "avahi/client.h"
#include "avahi/mdns.h"
#include "distcc-mdns/directory.h"

namespace dmdns::avahi {

// Keeps one AvahiServiceResolver open per instance so that TXT and address
// changes keep arriving. Bounded: beyond kMaxInstances new instances are
// ignored (Avahi allows 1024 objects per client anyway).
class Browser final : public Browsing, public ClientListener
{
public:
	static constexpr std::size_t kMaxInstances = 512;
	// A browse of a unicast DNS domain that failed (no nameserver answered,
	// or it refused) is started again after this long: DNS servers come
	// back, and records get added.
	static constexpr std::chrono::seconds kRetryAfter{ 30 };
	// An instance whose resolver Avahi could not make (too many objects
	// for this client, a D-Bus error on a loaded host) is tried again after
	// 1 s, then twice as long each time up to this: otherwise it would stay
	// unresolved for as long as the browser keeps it.
	static constexpr std::chrono::seconds kMaxResolveRetry{ 60 };

	// Borrows @client and @handler for its lifetime. An empty @domain is
	// Avahi's default (.local).
	Browser(Client &client, std::string type, BrowserHandler &handler, std::string domain = {});
	~Browser();

	Browser(const Browser &) = delete;
	Browser &operator=(const Browser &) = delete;

	void reresolve(const InstanceKey &key, std::chrono::milliseconds delay) override;
	void reresolve(std::string_view name, std::string_view domain, std::chrono::milliseconds delay) override;
	std::size_t unresolved() const noexcept override;
	bool allForNowSeen() const noexcept override { return allForNow_; }

	void clientRunning(AvahiClient &client) override;
	void clientGone() override;

private:
	struct FreeBrowser {
		void operator()(AvahiServiceBrowser *b) const noexcept { avahi_service_browser_free(b); }
	};
	struct FreeResolver {
		void operator()(AvahiServiceResolver *r) const noexcept { avahi_service_resolver_free(r); }
	};
	struct Entry {
		std::unique_ptr<AvahiServiceResolver, FreeResolver> resolver;
		// Due time of a fresh resolver; the old one is freed then.
		std::optional<std::chrono::steady_clock::time_point> restartAt;
		bool resolved = false;
		// The resolver gave up (it may still report the instance later),
		// or could not be made and waits for its retry (restartAt).
		bool failed = false;
		unsigned retries = 0; // resolvers that could not be made in a row
	};

	// Makes @entry's resolver again later (kMaxResolveRetry).
	void retryResolver(const InstanceKey &key, Entry &entry);
	// Makes restart_ fire by @at at the latest.
	void restartBy(std::chrono::steady_clock::time_point at);

	static void browseCallback(AvahiServiceBrowser *b, AvahiIfIndex interface, AvahiProtocol protocol,
				   AvahiBrowserEvent event, const char *name, const char *type,
				   const char *domain, AvahiLookupResultFlags flags, void *self) noexcept;
	static void resolveCallback(AvahiServiceResolver *r, AvahiIfIndex interface, AvahiProtocol protocol,
				    AvahiResolverEvent event, const char *name, const char *type,
				    const char *domain, const char *hostName, const AvahiAddress *address,
				    std::uint16_t port, AvahiStringList *txt, AvahiLookupResultFlags flags,
				    void *self) noexcept;
	// Creates the resolver of @key; false if Avahi refuses.
	bool startResolver(const InstanceKey &key, Entry &entry);
	void restartDue();
	void browseEvent(AvahiIfIndex interface, AvahiProtocol protocol, AvahiBrowserEvent event,
			 const char *name, const char *domain);
	void resolveEvent(AvahiIfIndex interface, AvahiProtocol protocol, AvahiResolverEvent event,
			  const char *name, const char *domain, const char *hostName,
			  const AvahiAddress *address, std::uint16_t port, AvahiStringList *txt,
			  AvahiLookupResultFlags flags);

	Client &client_;
	const std::string type_;
	const std::string domain_;
	BrowserHandler &handler_;
	std::unique_ptr<AvahiServiceBrowser, FreeBrowser> browser_;
	std::map<InstanceKey, Entry> entries_;
	bool allForNow_ = false;
	uv::Timer restart_;
	std::optional<std::chrono::steady_clock::time_point> restartDue_; // while restart_ runs
	uv::Timer retry_;						  // a failed domain browse, again
	unsigned failures_ = 0;						  // in a row: the first is a warning
};

} // namespace dmdns::avahi

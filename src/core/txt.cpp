// DNS-SD TXT schema of a _distcc._tcp advertisement.
#include "distcc-mdns/txt.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "distcc-mdns/text.h"

namespace dmdns {

namespace {

// A TXT string is one length byte plus at most 255 bytes.
constexpr std::size_t kMaxTxtString = 255;
// A compiler without an identity, in `ccid`.
constexpr std::string_view kNoIdentity = "-";

// Reads one `machine:version,...` list; all or nothing.
std::optional<std::vector<Compiler>> parseCompilerList(std::string_view value, std::string &why)
{
	std::vector<Compiler> list;
	while (!value.empty()) {
		if (list.size() == kMaxTxtCompilers) {
			why = fmt::format("more than {} compilers", kMaxTxtCompilers);
			return std::nullopt;
		}
		const auto comma = value.find(',');
		const std::string_view item = value.substr(0, comma);
		value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
		const auto colon = item.find(':');
		if (colon == std::string_view::npos) {
			why = fmt::format("entry {} is not machine:version", text::quote(item));
			return std::nullopt;
		}
		Compiler c{ std::string(item.substr(0, colon)), std::string(item.substr(colon + 1)) };
		if (!c.valid()) {
			why = fmt::format("entry {} has a bad machine or version", text::quote(item));
			return std::nullopt;
		}
		list.push_back(std::move(c));
		if (comma != std::string_view::npos && value.empty()) {
			why = "trailing comma";
			return std::nullopt;
		}
	}
	if (list.empty()) {
		why = "empty list";
		return std::nullopt;
	}
	return list;
}

// Reads a `ccid` value: one identity or "-" (none) per compiler, all or
// nothing.
std::optional<std::vector<std::string>> parseIdentityList(std::string_view value, std::string &why)
{
	std::vector<std::string> list;
	for (;;) {
		if (list.size() == kMaxTxtCompilers + 1) {
			why = fmt::format("more than {} identities", kMaxTxtCompilers + 1);
			return std::nullopt;
		}
		const auto comma = value.find(',');
		const std::string_view item = value.substr(0, comma);
		if (item != kNoIdentity && !validCompilerIdentity(item)) {
			why = fmt::format("entry {} is not {} hex digits or \"{}\"", text::quote(item),
					  kCompilerIdentityDigits, kNoIdentity);
			return std::nullopt;
		}
		list.emplace_back(item == kNoIdentity ? std::string_view{} : item);
		if (comma == std::string_view::npos)
			return list;
		value.remove_prefix(comma + 1);
	}
}

// Reads a comma list of at most kMaxTxtNetworks items with @parse, each a
// @what; all or nothing.
template <typename Parse>
auto parseList(std::string_view value, Parse parse, std::string_view what, std::string &why)
	-> std::optional<std::vector<typename decltype(parse(value))::value_type>>
{
	std::vector<typename decltype(parse(value))::value_type> list;
	for (;;) {
		if (list.size() == kMaxTxtNetworks) {
			why = fmt::format("more than {} entries", kMaxTxtNetworks);
			return std::nullopt;
		}
		const auto comma = value.find(',');
		const std::string_view item = value.substr(0, comma);
		auto parsed = parse(item);
		if (!parsed) {
			why = fmt::format("entry {} is not {}", text::quote(item), what);
			return std::nullopt;
		}
		list.push_back(std::move(*parsed));
		if (comma == std::string_view::npos)
			return list;
		value.remove_prefix(comma + 1);
	}
}

// Applies the known keys to @out; a refused value is recorded with its
// reason and leaves the field at its default.
class FieldDecoder final
{
public:
	explicit FieldDecoder(TxtDecoded &out)
		: out_(out) { }

	void decode(const std::string &key, std::string_view value)
	{
		std::string why = apply(key, value);
		if (!why.empty())
			out_.problems.push_back({ key, fmt::format("{}: {}", text::quote(value), why) });
	}

	// Combines what the fields said once all are read.
	void finish()
	{
		Server &s = out_.server;
		// The default compiler travels in distcc's keys, the others in `cc`.
		std::optional<Compiler> cc;
		if (ccMachine_ && ccVersion_)
			cc = Compiler{ *ccMachine_, *ccVersion_ };
		// `ccid` names the identities in that order, the default's first;
		// a shorter list leaves the last compilers without one.
		if (identities_.size() > 1 + compilers_.size()) {
			out_.problems.push_back({ "ccid", fmt::format("{} identities for {} compilers",
								      identities_.size(), 1 + compilers_.size()) });
			identities_.clear();
		}
		for (std::size_t i = 0; i < identities_.size(); ++i) {
			if (i == 0 && cc)
				cc->identity = identities_[0];
			else if (i > 0)
				compilers_[i - 1].identity = identities_[i];
		}
		if (cc)
			s.compilers.push_back(std::move(*cc));
		for (Compiler &c : compilers_)
			if (!s.offers(c))
				s.compilers.push_back(std::move(c));

		// distccd's own default is cpus + 2; distcc's default per host is 4.
		if (jobs_)
			s.slots = *jobs_;
		else if (s.cpus)
			s.slots = std::min(s.cpus + 2, kMaxSlots);
		else
			s.slots = 4;

		if (cpp_ && !lzo_) {
			out_.problems.push_back({ "opts", "cpp without lzo: distcc needs both for pump mode" });
			cpp_ = false;
		}
		s.lzo = lzo_;
		s.cpp = cpp_;

		if (running_) {
			LoadSample sample;
			sample.running = *running_;
			sample.runnable = runnable_.value_or(0.0);
			sample.incarnation = incarnation_.value_or(0);
			sample.sequence = sequence_.value_or(0);
			s.sample = sample;
		}
	}

private:
	std::string apply(const std::string &key, std::string_view value)
	{
		Server &s = out_.server;
		if (key == "txtvers") {
			if (value != "1") {
				out_.usable = false;
				return "unsupported version";
			}
			return {};
		}
		if (key == "cpus")
			return number(value, 1, kMaxCpus, [&](auto v) { s.cpus = static_cast<std::uint32_t>(v); });
		if (key == "jobs")
			return number(value, 1, kMaxSlots, [&](auto v) { jobs_ = static_cast<std::uint32_t>(v); });
		if (key == "distcc")
			return token(value, text::kVersionChars, [&](auto v) { s.distccVersion = v; });
		if (key == "gnuhost")
			return text::isToken(value, text::kTripletChars) ? std::string{} : "not a GNU triplet";
		if (key == "cc_machine")
			return token(value, text::kTripletChars, [&](auto v) { ccMachine_ = v; });
		if (key == "cc_version")
			return token(value, text::kVersionChars, [&](auto v) { ccVersion_ = v; });
		if (key == "dmver") {
			out_.ours = true;
			return number(value, 1, UINT32_MAX, [](auto) {});
		}
		if (key == "id")
			return token(value, text::kTripletChars, [&](auto v) { s.id = v; });
		if (key == "speed") {
			auto v = text::parseDecimal(value, kMinSpeed, kMaxSpeed);
			if (!v)
				return fmt::format("not a decimal in [{}, {}]", kMinSpeed, kMaxSpeed);
			s.speed = *v;
			return {};
		}
		if (key == "state") {
			auto state = parseServerState(value);
			if (!state)
				return "not up, drain or down";
			s.state = *state;
			return {};
		}
		if (key == "opts")
			return options(value);
		if (key == "cc") {
			std::string why;
			if (auto list = parseCompilerList(value, why))
				compilers_ = std::move(*list);
			return why;
		}
		if (key == "ccid") {
			std::string why;
			if (auto list = parseIdentityList(value, why))
				identities_ = std::move(*list);
			return why;
		}
		if (key == "run")
			return number(value, 0, 65535, [&](auto v) { running_ = static_cast<std::uint32_t>(v); });
		if (key == "load") {
			runnable_ = text::parseDecimal(value, 0.0, 1e6);
			return runnable_ ? std::string{} : "not a decimal in [0, 1e6]";
		}
		if (key == "inc")
			return number(value, 0, UINT64_MAX, [&](auto v) { incarnation_ = v; });
		if (key == "seq")
			return number(value, 0, UINT64_MAX, [&](auto v) { sequence_ = v; });
		if (key == "listen") {
			std::string why;
			auto parse = [](std::string_view a) { return Address::parse(a); };
			if (auto list = parseList(value, parse, "a numeric address", why))
				s.listens = std::move(*list);
			return why;
		}
		if (key == "allow") {
			std::string why;
			if (auto list = parseList(value, Network::parse, "an address or ADDRESS/PREFIX", why))
				s.allows = std::move(*list);
			return why;
		}
		return {}; // RFC 6763 §6.4: unknown keys are ignored
	}

	template <typename Set>
	static std::string number(std::string_view value, std::uint64_t min, std::uint64_t max, Set set)
	{
		auto v = text::parseUint(value, min, max);
		if (!v)
			return fmt::format("not an integer in [{}, {}]", min, max);
		set(*v);
		return {};
	}

	template <typename Set>
	static std::string token(std::string_view value, std::string_view extra, Set set)
	{
		if (!text::isToken(value, extra))
			return fmt::format("not 1-{} letters, digits or \"{}\"", text::kMaxToken, extra);
		set(std::string(value));
		return {};
	}

	std::string options(std::string_view value)
	{
		// Unknown options are skipped so that later versions can add some.
		while (!value.empty()) {
			const auto comma = value.find(',');
			const std::string_view opt = value.substr(0, comma);
			if (opt == "lzo")
				lzo_ = true;
			else if (opt == "cpp")
				cpp_ = true;
			else if (!text::isToken(opt, "_-"))
				return fmt::format("bad option {}", text::quote(opt));
			if (comma == std::string_view::npos)
				break;
			value.remove_prefix(comma + 1);
		}
		return {};
	}

	TxtDecoded &out_;
	std::vector<Compiler> compilers_;
	std::vector<std::string> identities_; // empty: none advertised
	std::optional<std::string> ccMachine_;
	std::optional<std::string> ccVersion_;
	std::optional<std::uint32_t> jobs_;
	std::optional<std::uint32_t> running_;
	std::optional<double> runnable_;
	std::optional<std::uint64_t> incarnation_;
	std::optional<std::uint64_t> sequence_;
	bool lzo_ = false;
	bool cpp_ = false;
};

template <typename String>
TxtDecoded decodeStrings(std::span<const String> strings)
{
	TxtDecoded out;
	FieldDecoder fields(out);
	std::set<std::string> seen;

	std::size_t index = 0;
	for (std::string_view entry : strings) {
		if (index++ == kMaxTxtStrings) {
			out.problems.push_back({ "", fmt::format("more than {} strings; the rest ignored",
								 kMaxTxtStrings) });
			break;
		}
		if (entry.size() > kMaxTxtString) {
			out.problems.push_back({ "", fmt::format("string {} longer than {} bytes", index,
								 kMaxTxtString) });
			continue;
		}
		const auto eq = entry.find('=');
		const std::string_view rawKey = entry.substr(0, eq);
		// RFC 6763 §6.4: a string starting with '=' is silently ignored.
		if (rawKey.empty())
			continue;
		if (!text::isPrintableAscii(rawKey)) {
			out.problems.push_back({ text::quote(rawKey), "key is not printable ASCII" });
			continue;
		}
		std::string key = text::lower(rawKey);
		// First occurrence wins, even if its value is refused.
		if (!seen.insert(key).second)
			continue;
		if (eq == std::string_view::npos) {
			// A boolean attribute; none of ours is one.
			continue;
		}
		fields.decode(key, entry.substr(eq + 1));
	}
	fields.finish();
	return out;
}

} // namespace

std::size_t txtWireSize(std::span<const std::string> strings) noexcept
{
	std::size_t size = 0;
	for (const std::string &s : strings)
		size += 1 + s.size();
	return size;
}

std::vector<std::string> encodeTxt(const Server &server)
{
	if (server.compilers.empty())
		throw std::invalid_argument("a server advertises at least its default compiler");
	for (const Compiler &c : server.compilers)
		if (!c.valid())
			throw std::invalid_argument(fmt::format("compiler {}:{} cannot be advertised",
								text::quote(c.machine), text::quote(c.version)));
	if (!text::isToken(server.distccVersion, text::kVersionChars))
		throw std::invalid_argument(fmt::format("distcc version {} cannot be advertised",
							text::quote(server.distccVersion)));
	if (!text::isToken(server.id, text::kTripletChars))
		throw std::invalid_argument(fmt::format("host id {} cannot be advertised",
							text::quote(server.id)));
	if (server.cpus < 1 || server.cpus > kMaxCpus || server.slots < 1 || server.slots > kMaxSlots)
		throw std::invalid_argument("cpus and slots must be in [1, 4096]");
	if (!(server.speed >= kMinSpeed && server.speed <= kMaxSpeed))
		throw std::invalid_argument("speed out of range");
	if (server.cpp && !server.lzo)
		throw std::invalid_argument("cpp needs lzo");

	const Compiler &cc = server.compilers.front();
	std::vector<std::string> txt = {
		"txtvers=1",
		fmt::format("cpus={}", server.cpus),
		fmt::format("jobs={}", server.slots),
		fmt::format("distcc={}", server.distccVersion),
		fmt::format("gnuhost={}", cc.machine),
		fmt::format("cc_version={}", cc.version),
		fmt::format("cc_machine={}", cc.machine),
		fmt::format("dmver={}", kTxtSchemaVersion),
		fmt::format("id={}", server.id),
		fmt::format("speed={}", text::formatDecimal(server.speed)),
		fmt::format("state={}", stateName(server.state)),
	};
	if (server.lzo)
		txt.push_back(server.cpp ? "opts=lzo,cpp" : "opts=lzo");
	if (server.compilers.size() > 1) {
		if (server.compilers.size() > kMaxTxtCompilers + 1)
			throw std::length_error(fmt::format("more than {} compilers", kMaxTxtCompilers + 1));
		std::string list;
		for (std::size_t i = 1; i < server.compilers.size(); ++i)
			list += fmt::format("{}{}:{}", list.empty() ? "" : ",", server.compilers[i].machine,
					    server.compilers[i].version);
		txt.push_back("cc=" + list);
	}
	// Where distccd accepts, for the client to pick an address by.
	auto list = [](std::string_view key, const auto &items, auto text) {
		if (items.size() > kMaxTxtNetworks)
			throw std::invalid_argument(fmt::format("more than {} entries in {}", kMaxTxtNetworks, key));
		std::string out(key);
		out += '=';
		for (std::size_t i = 0; i < items.size(); ++i)
			out += (i ? "," : "") + text(items[i]);
		return out;
	};
	if (!server.listens.empty())
		txt.push_back(list("listen", server.listens, [](const Address &a) { return a.text; }));
	if (!server.allows.empty())
		txt.push_back(list("allow", server.allows, [](const Network &n) { return n.text(); }));
	const std::size_t beforeSample = txtWireSize(txt);
	if (server.sample) {
		const LoadSample &s = *server.sample;
		txt.push_back(fmt::format("run={}", std::min<std::uint32_t>(s.running, 65535)));
		txt.push_back(fmt::format("load={}", text::formatDecimal(s.runnable)));
		txt.push_back(fmt::format("inc={}", s.incarnation));
		txt.push_back(fmt::format("seq={}", s.sequence));
	}

	// The compilers' identities, as many as fit: the last compilers' go
	// first, leaving them unverified rather than the record oversize.
	std::vector<std::string_view> ids;
	for (const Compiler &c : server.compilers)
		ids.push_back(c.identity.empty() ? kNoIdentity : std::string_view(c.identity));
	while (!ids.empty() && ids.back() == kNoIdentity)
		ids.pop_back();
	// Sized for the widest sample, so that which identities fit does not
	// change as the sample's numbers grow between two updates of the record.
	std::size_t rest = txtWireSize(txt);
	if (server.sample) {
		const std::string widest[] = { "run=65535", "load=999999.999", fmt::format("inc={}", UINT64_MAX),
					       fmt::format("seq={}", UINT64_MAX) };
		rest = std::max(rest, beforeSample + txtWireSize(widest));
	}
	for (; !ids.empty(); ids.pop_back()) {
		const std::string ccid = fmt::format("ccid={}", fmt::join(ids, ","));
		if (ccid.size() <= kMaxTxtString && rest + 1 + ccid.size() <= kMaxTxtBytes) {
			txt.push_back(ccid);
			break;
		}
	}

	for (const std::string &s : txt)
		if (s.size() > kMaxTxtString)
			throw std::length_error(fmt::format("TXT string of {} bytes", s.size()));
	if (const std::size_t size = txtWireSize(txt); size > kMaxTxtBytes)
		throw std::length_error(fmt::format("TXT record of {} bytes exceeds {}", size, kMaxTxtBytes));
	return txt;
}

TxtDecoded decodeTxt(std::span<const std::string_view> strings)
{
	return decodeStrings(strings);
}

TxtDecoded decodeTxt(std::span<const std::string> strings)
{
	return decodeStrings(strings);
}

std::string stockSubtype(const Compiler &compiler)
{
	auto strip = [](std::string_view part) {
		std::string out(part.substr(0, 63));
		for (char &c : out) {
			if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
				continue;
			c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : '-';
		}
		return out;
	};
	std::string subtype = fmt::format("_{}--{}._sub.{}", strip(compiler.machine),
					  strip(compiler.version), kServiceType);
	// distcc formats into a 128-byte buffer.
	if (subtype.size() > 127)
		subtype.resize(127);
	return subtype;
}

} // namespace dmdns

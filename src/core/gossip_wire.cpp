// Gossip wire format v2: the strict decoder, and node ids as text.
#include "distcc-mdns/gossip_wire.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include "core/wire_fields.h"
#include "distcc-mdns/text.h"

namespace dmdns::wire {

namespace {

using detail::bodySize;
using detail::checkCounters;
using detail::kOptCpp;
using detail::kOptLzo;

double fromMilli(std::uint32_t value) noexcept
{
	return value / 1000.0;
}

// Reads big-endian integers from a span; every read is bounds-checked and a
// failed read leaves the reader failed, so callers check once at the end.
class Reader final
{
public:
	explicit Reader(std::span<const std::uint8_t> in)
		: in_(in) { }

	std::uint8_t u8() { return static_cast<std::uint8_t>(be(1)); }
	std::uint16_t u16() { return static_cast<std::uint16_t>(be(2)); }
	std::uint32_t u32() { return static_cast<std::uint32_t>(be(4)); }
	std::uint64_t u64() { return be(8); }

	std::span<const std::uint8_t> take(std::size_t n)
	{
		if (failed_ || n > in_.size() - pos_) {
			failed_ = true;
			return {};
		}
		auto part = in_.subspan(pos_, n);
		pos_ += n;
		return part;
	}

	bool failed() const noexcept { return failed_; }
	std::size_t left() const noexcept { return in_.size() - pos_; }

private:
	std::uint64_t be(std::size_t bytes)
	{
		std::uint64_t v = 0;
		for (std::uint8_t b : take(bytes))
			v = (v << 8) | b;
		return v;
	}

	std::span<const std::uint8_t> in_;
	std::size_t pos_ = 0;
	bool failed_ = false;
};

// Reads the body of a known type; the caller has checked its length. Fields
// whose wire form can hold values the model cannot are refused here, the
// rest by validate().
std::optional<Record> readBody(RecordType type, Reader &r, std::string &why)
{
	switch (type) {
	case RecordType::Sample: {
		Sample s;
		s.server = r.u64();
		s.incarnation = r.u64();
		s.sequence = r.u64();
		s.ageMs = r.u32();
		s.running = r.u16();
		s.slots = r.u16();
		s.cpus = r.u16();
		const std::uint32_t runnable = r.u32();
		const std::uint32_t speed = r.u32();
		const std::uint8_t state = r.u8();
		const std::uint8_t opts = r.u8();
		s.port = r.u16();
		if (runnable > kMaxRunnableMilli) {
			why = "runnable over 1e6";
			return std::nullopt;
		}
		if (state > static_cast<std::uint8_t>(ServerState::Down)) {
			why = fmt::format("unknown state {}", state);
			return std::nullopt;
		}
		if (opts & ~(kOptLzo | kOptCpp)) {
			why = fmt::format("unknown options 0x{:02x}", opts);
			return std::nullopt;
		}
		s.runnable = fromMilli(runnable);
		s.speed = fromMilli(speed);
		s.state = static_cast<ServerState>(state);
		s.lzo = opts & kOptLzo;
		s.cpp = opts & kOptCpp;
		return s;
	}
	case RecordType::Leave: {
		Leave l;
		l.node = r.u64();
		l.incarnation = r.u64();
		return l;
	}
	case RecordType::Reservation: {
		Reservation v;
		v.client = r.u64();
		v.server = r.u64();
		v.count = r.u16();
		v.ttlMs = r.u32();
		v.ageMs = r.u32();
		v.incarnation = r.u64();
		v.sequence = r.u64();
		return v;
	}
	case RecordType::Demand: {
		Demand d;
		d.client = r.u64();
		d.incarnation = r.u64();
		d.sequence = r.u64();
		d.ageMs = r.u32();
		d.wanted = r.u32();
		d.localSlots = r.u16();
		return d;
	}
	case RecordType::Load: {
		Load l;
		l.server = r.u64();
		l.incarnation = r.u16();
		l.sequence = r.u32();
		l.ageMs = r.u16() * 10u;
		l.running = r.u16();
		l.runnable = r.u16() / 10.0;
		return l;
	}
	case RecordType::Cookie:
		return Cookie{ r.u64() };
	case RecordType::Profile: {
		Profile p;
		p.server = r.u64();
		p.incarnation = r.u64();
		p.digest = r.u64();
		return p;
	}
	case RecordType::Speed: {
		Speed s;
		s.client = r.u64();
		s.server = r.u64();
		s.incarnation = r.u64();
		s.sequence = r.u64();
		s.ageMs = r.u32();
		s.logTime = r.u32() / 10000.0;
		s.jobs = r.u16();
		return s;
	}
	case RecordType::Clients: {
		Clients c;
		c.server = r.u64();
		c.incarnation = r.u64();
		c.sequence = r.u64();
		const std::uint8_t part = r.u8();
		c.part = part >> 4;
		c.parts = part & 0x0f;
		c.others = r.u16();
		// The caller checked the length: whole entries, at most a record's.
		c.entries.resize(r.left() / kClientEntrySize);
		for (ClientEntry &e : c.entries) {
			const auto address = r.take(e.address.size());
			std::copy(address.begin(), address.end(), e.address.begin());
			e.running = r.u16();
		}
		return c;
	}
	case RecordType::LocalJobs: {
		LocalJobs l;
		l.client = r.u64();
		l.incarnation = r.u64();
		l.sequence = r.u64();
		l.jobs = r.u16();
		return l;
	}
	case RecordType::Where: {
		Where w;
		w.server = r.u64();
		w.incarnation = r.u64();
		const auto address = r.take(w.address.size());
		std::copy(address.begin(), address.end(), w.address.begin());
		w.port = r.u16();
		return w;
	}
	case RecordType::Pad:
		break;
	}
	why = "unknown type";
	return std::nullopt;
}

bool knownType(std::uint8_t type) noexcept
{
	return type >= static_cast<std::uint8_t>(RecordType::Sample) &&
	       type <= static_cast<std::uint8_t>(RecordType::Where);
}

Decoded fail(Decoded d, std::string why)
{
	d.packet.reset();
	d.error = std::move(why);
	return d;
}

} // namespace

Decoded decode(std::span<const std::uint8_t> datagram)
{
	Decoded d;
	if (datagram.size() > kMaxDatagram)
		return fail(std::move(d), fmt::format("{} bytes, over {}", datagram.size(), kMaxDatagram));
	if (datagram.size() < kHeaderSize)
		return fail(std::move(d), fmt::format("{} bytes, shorter than a header", datagram.size()));
	if (datagram[0] != kMagic0 || datagram[1] != kMagic1)
		return fail(std::move(d), "bad magic");
	if (datagram[2] != kVersion) {
		d.otherVersion = true;
		return fail(std::move(d), fmt::format("unsupported version {}", datagram[2]));
	}

	Reader r(datagram);
	r.take(3);
	Packet packet;
	packet.header.flags = r.u8();
	packet.header.sender = r.u64();
	packet.header.incarnation = r.u64();
	packet.header.sequence = r.u64();
	const std::size_t count = r.u8();
	if (packet.header.flags & ~kKnownFlags)
		return fail(std::move(d), fmt::format("unknown flags 0x{:02x}", packet.header.flags));
	if (packet.header.sender == 0)
		return fail(std::move(d), "sender id 0");
	if (std::string why = checkCounters(packet.header.incarnation, packet.header.sequence); !why.empty())
		return fail(std::move(d), "header: " + why);
	d.tagged = packet.header.flags & kFlagTagged;
	d.bodyEnd = datagram.size();
	if (d.tagged) {
		if (datagram.size() < kHeaderSize + kTagSize)
			return fail(std::move(d), "tagged but too short for the tag");
		d.bodyEnd -= kTagSize;
	}

	// Records must fill the body exactly: no truncation, no trailing bytes.
	Reader body(datagram.subspan(kHeaderSize, d.bodyEnd - kHeaderSize));
	packet.records.reserve(std::min(count, body.left() / (2 + kLeaveSize) + 1));
	for (std::size_t i = 0; i < count; ++i) {
		const std::uint8_t type = body.u8();
		const std::size_t length = body.u8();
		if (body.failed())
			return fail(std::move(d), fmt::format("record {} of {}: truncated header", i, count));
		if (length > body.left())
			return fail(std::move(d), fmt::format("record {} of {}: length {} past the end", i, count, length));
		Reader field(body.take(length));
		if (type == 0)
			return fail(std::move(d), fmt::format("record {}: type 0", i));
		if (!knownType(type)) {
			++d.unknownRecords;
			continue;
		}
		const auto known = static_cast<RecordType>(type);
		if (known == RecordType::Pad) {
			++d.padRecords;
			continue;
		}
		if (known == RecordType::Clients) {
			if (length < kClientsHeadSize || (length - kClientsHeadSize) % kClientEntrySize != 0 ||
			    (length - kClientsHeadSize) / kClientEntrySize > kClientsPerRecord)
				return fail(std::move(d), fmt::format("record {}: clients with length {}", i, length));
		} else if (length != bodySize(known))
			return fail(std::move(d), fmt::format("record {}: type {} with length {}, not {}", i,
							      type, length, bodySize(known)));
		std::string why;
		auto record = readBody(known, field, why);
		if (record && why.empty())
			why = validate(*record);
		if (!why.empty())
			return fail(std::move(d), fmt::format("record {} (type {}): {}", i, type, why));
		packet.records.push_back(std::move(*record));
	}
	if (body.left() != 0)
		return fail(std::move(d), fmt::format("{} bytes after the last record", body.left()));
	d.packet = std::move(packet);
	return d;
}

std::span<const std::uint8_t, kTagSize> tagOf(std::span<const std::uint8_t> datagram,
					      const Decoded &decoded)
{
	if (!decoded.tagged || decoded.bodyEnd + kTagSize != datagram.size())
		throw std::invalid_argument("not a decoded tagged datagram");
	return datagram.subspan(decoded.bodyEnd).first<kTagSize>();
}

std::optional<std::uint64_t> parseNodeId(std::string_view hex) noexcept
{
	const std::optional<std::uint64_t> v = text::parseHex64(hex, true);
	if (v == 0u)
		return std::nullopt;
	return v;
}

std::string formatNodeId(std::uint64_t id)
{
	return fmt::format("{:016x}", id);
}

std::optional<std::array<std::uint8_t, 16>> addressBytes(const std::string &text)
{
	std::array<std::uint8_t, 16> out{};
	in_addr v4{};
	if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
		out[10] = out[11] = 0xff;
		std::memcpy(out.data() + 12, &v4, 4);
		return out;
	}
	in6_addr v6{};
	if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
		std::memcpy(out.data(), &v6, 16);
		return out;
	}
	return std::nullopt;
}

std::string addressText(const std::array<std::uint8_t, 16> &bytes)
{
	static constexpr std::uint8_t kMapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char text[INET6_ADDRSTRLEN] = {};
	if (std::equal(std::begin(kMapped), std::end(kMapped), bytes.begin()))
		::inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
	else
		::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
	return text;
}

} // namespace dmdns::wire

// Gossip wire format v2: strict decoder and bounded encoder.
#include "distcc-mdns/gossip_wire.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace dmdns::wire {

namespace {

constexpr std::uint8_t kOptLzo = 0x01;
constexpr std::uint8_t kOptCpp = 0x02;

// Fixed point in thousandths; callers validate the range first.
std::uint32_t toMilli(double value) noexcept
{
	return static_cast<std::uint32_t>(std::llround(value * 1000.0));
}

double fromMilli(std::uint32_t value) noexcept
{
	return value / 1000.0;
}

class Writer final
{
public:
	explicit Writer(std::vector<std::uint8_t> &out) : out_(out) {}

	void u8(std::uint8_t v) { out_.push_back(v); }
	void u16(std::uint16_t v) { be(v, 2); }
	void u32(std::uint32_t v) { be(v, 4); }
	void u64(std::uint64_t v) { be(v, 8); }

private:
	void be(std::uint64_t v, unsigned bytes)
	{
		for (unsigned i = bytes; i-- > 0;)
			out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
	}

	std::vector<std::uint8_t> &out_;
};

// Reads big-endian integers from a span; every read is bounds-checked and a
// failed read leaves the reader failed, so callers check once at the end.
class Reader final
{
public:
	explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}

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

// Incarnations and sequences beyond kMaxCounter are forgeries or bugs.
std::string checkCounters(std::uint64_t incarnation, std::uint64_t sequence)
{
	if (incarnation >= kMaxCounter)
		return fmt::format("incarnation {} absurd", incarnation);
	if (sequence >= kMaxCounter)
		return fmt::format("sequence {} absurd", sequence);
	return {};
}

std::string checkSample(const Sample &s)
{
	if (s.server == 0)
		return "server id 0";
	if (std::string why = checkCounters(s.incarnation, s.sequence); !why.empty())
		return why;
	if (s.ageMs > kMaxAgeMs)
		return fmt::format("age {} ms over {}", s.ageMs, kMaxAgeMs);
	if (s.running > 65535)
		return fmt::format("running {} over 65535", s.running);
	if (s.slots < 1 || s.slots > kMaxSlots)
		return fmt::format("slots {} not in [1, {}]", s.slots, kMaxSlots);
	if (s.cpus < 1 || s.cpus > kMaxCpus)
		return fmt::format("cpus {} not in [1, {}]", s.cpus, kMaxCpus);
	if (!(s.runnable >= 0.0 && s.runnable <= kMaxRunnableMilli / 1000.0))
		return "runnable not in [0, 1e6]";
	if (!(s.speed >= kMinSpeed && s.speed <= kMaxSpeed))
		return fmt::format("speed not in [{}, {}]", kMinSpeed, kMaxSpeed);
	if (s.state != ServerState::Up && s.state != ServerState::Drain && s.state != ServerState::Down)
		return "unknown state";
	if (s.cpp && !s.lzo)
		return "cpp without lzo";
	if (s.port == 0)
		return "port 0";
	return {};
}

std::string checkLeave(const Leave &l)
{
	if (l.node == 0)
		return "node id 0";
	return checkCounters(l.incarnation, 0);
}

std::string checkReservation(const Reservation &r)
{
	if (r.client == 0 || r.server == 0)
		return "id 0";
	if (std::string why = checkCounters(r.incarnation, r.sequence); !why.empty())
		return why;
	if (r.count > kMaxReservedJobs)
		return fmt::format("count {} over {}", r.count, kMaxReservedJobs);
	if (r.ttlMs == 0 || r.ttlMs > kMaxReservationTtlMs)
		return fmt::format("ttl {} ms not in [1, {}]", r.ttlMs, kMaxReservationTtlMs);
	if (r.ageMs > r.ttlMs)
		return "older than its ttl";
	return {};
}

std::string checkDemand(const Demand &d)
{
	if (d.client == 0)
		return "client id 0";
	if (std::string why = checkCounters(d.incarnation, d.sequence); !why.empty())
		return why;
	if (d.ageMs > kMaxAgeMs)
		return fmt::format("age {} ms over {}", d.ageMs, kMaxAgeMs);
	if (d.wanted > kMaxWantedJobs)
		return fmt::format("wanted {} over {}", d.wanted, kMaxWantedJobs);
	if (d.localSlots > kMaxLocalSlots)
		return fmt::format("local slots {} over {}", d.localSlots, kMaxLocalSlots);
	return {};
}

std::string checkLoad(const Load &l)
{
	if (l.server == 0)
		return "server id 0";
	if (l.ageMs > kMaxLoadAgeMs)
		return fmt::format("age {} ms over {}", l.ageMs, kMaxLoadAgeMs);
	if (l.running > 65535)
		return fmt::format("running {} over 65535", l.running);
	if (!(l.runnable >= 0.0 && l.runnable <= 6553.5))
		return "runnable not in [0, 6553.5]";
	return {};
}

std::string checkCookie(const Cookie &c)
{
	return c.value == 0 ? "cookie 0" : std::string{};
}

RecordType typeOf(const Record &record) noexcept
{
	switch (record.index()) {
	case 0:
		return RecordType::Sample;
	case 1:
		return RecordType::Leave;
	case 2:
		return RecordType::Reservation;
	case 3:
		return RecordType::Demand;
	case 4:
		return RecordType::Load;
	default:
		return RecordType::Cookie;
	}
}

std::size_t bodySize(RecordType type) noexcept
{
	switch (type) {
	case RecordType::Sample:
		return kSampleSize;
	case RecordType::Leave:
		return kLeaveSize;
	case RecordType::Reservation:
		return kReservationSize;
	case RecordType::Demand:
		return kDemandSize;
	case RecordType::Load:
		return kLoadSize;
	case RecordType::Cookie:
		return kCookieSize;
	case RecordType::Pad:
		return 0; // any length
	}
	return 0;
}

void writeBody(Writer &w, const Record &record)
{
	std::visit(
		[&](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, Sample>) {
				w.u64(r.server);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u32(r.ageMs);
				w.u16(static_cast<std::uint16_t>(r.running));
				w.u16(static_cast<std::uint16_t>(r.slots));
				w.u16(static_cast<std::uint16_t>(r.cpus));
				w.u32(toMilli(r.runnable));
				w.u32(toMilli(r.speed));
				w.u8(static_cast<std::uint8_t>(r.state));
				w.u8(static_cast<std::uint8_t>((r.lzo ? kOptLzo : 0) | (r.cpp ? kOptCpp : 0)));
				w.u16(r.port);
			} else if constexpr (std::is_same_v<T, Leave>) {
				w.u64(r.node);
				w.u64(r.incarnation);
			} else if constexpr (std::is_same_v<T, Reservation>) {
				w.u64(r.client);
				w.u64(r.server);
				w.u16(static_cast<std::uint16_t>(r.count));
				w.u32(r.ttlMs);
				w.u32(r.ageMs);
				w.u64(r.incarnation);
				w.u64(r.sequence);
			} else if constexpr (std::is_same_v<T, Demand>) {
				w.u64(r.client);
				w.u64(r.incarnation);
				w.u64(r.sequence);
				w.u32(r.ageMs);
				w.u32(r.wanted);
				w.u16(static_cast<std::uint16_t>(r.localSlots));
			} else if constexpr (std::is_same_v<T, Cookie>) {
				w.u64(r.value);
			} else {
				w.u64(r.server);
				w.u16(r.incarnation);
				w.u32(r.sequence);
				w.u16(static_cast<std::uint16_t>(r.ageMs / 10));
				w.u16(static_cast<std::uint16_t>(r.running));
				w.u16(static_cast<std::uint16_t>(std::lround(r.runnable * 10.0)));
			}
		},
		record);
}

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
	case RecordType::Pad:
		break;
	}
	why = "unknown type";
	return std::nullopt;
}

bool knownType(std::uint8_t type) noexcept
{
	return type >= static_cast<std::uint8_t>(RecordType::Sample) &&
	       type <= static_cast<std::uint8_t>(RecordType::Pad);
}

Decoded fail(Decoded d, std::string why)
{
	d.packet.reset();
	d.error = std::move(why);
	return d;
}

} // namespace

std::string validate(const Record &record)
{
	return std::visit(
		[](const auto &r) {
			using T = std::decay_t<decltype(r)>;
			if constexpr (std::is_same_v<T, Sample>)
				return checkSample(r);
			else if constexpr (std::is_same_v<T, Leave>)
				return checkLeave(r);
			else if constexpr (std::is_same_v<T, Reservation>)
				return checkReservation(r);
			else if constexpr (std::is_same_v<T, Demand>)
				return checkDemand(r);
			else if constexpr (std::is_same_v<T, Cookie>)
				return checkCookie(r);
			else
				return checkLoad(r);
		},
		record);
}

std::size_t encodedSize(const Record &record) noexcept
{
	return 2 + bodySize(typeOf(record));
}

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
		if (length != bodySize(known))
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

PacketWriter::PacketWriter(const Header &header, std::size_t maxSize)
	: header_(header), maxSize_(std::min(maxSize, kMaxDatagram))
{
	if (header_.sender == 0)
		throw std::invalid_argument("sender id 0");
	if (!checkCounters(header_.incarnation, header_.sequence).empty())
		throw std::invalid_argument("header counters absurd");
	if (header_.flags & ~kKnownFlags)
		throw std::invalid_argument("unknown flags");
	if (maxSize_ < kHeaderSize + tagRoom())
		throw std::invalid_argument("datagram size too small for a header");
	bytes_.reserve(maxSize_);
	finish();
}

std::size_t PacketWriter::tagRoom() const noexcept
{
	return (header_.flags & kFlagTagged) ? kTagSize : 0;
}

bool PacketWriter::add(const Record &record)
{
	if (std::string why = validate(record); !why.empty())
		throw std::invalid_argument("gossip record: " + why);
	if (count_ == kMaxRecords || size() + encodedSize(record) > maxSize_)
		return false;
	Writer w(bytes_);
	const RecordType type = typeOf(record);
	w.u8(static_cast<std::uint8_t>(type));
	w.u8(static_cast<std::uint8_t>(bodySize(type)));
	writeBody(w, record);
	++count_;
	return true;
}

void PacketWriter::padTo(std::size_t size)
{
	size = std::min(size, maxSize_);
	if (count_ == kMaxRecords || this->size() + 2 > size)
		return;
	const std::size_t length = std::min<std::size_t>(size - this->size() - 2, 255);
	bytes_.push_back(static_cast<std::uint8_t>(RecordType::Pad));
	bytes_.push_back(static_cast<std::uint8_t>(length));
	bytes_.resize(bytes_.size() + length, 0);
	++count_;
}

std::vector<std::uint8_t> PacketWriter::finish()
{
	std::vector<std::uint8_t> out;
	out.swap(bytes_);
	if (!out.empty()) {
		out[kHeaderSize - 1] = static_cast<std::uint8_t>(count_);
		out.resize(out.size() + tagRoom(), 0);
	}
	// Start the next datagram with its header.
	bytes_.reserve(maxSize_);
	Writer w(bytes_);
	w.u8(kMagic0);
	w.u8(kMagic1);
	w.u8(kVersion);
	w.u8(header_.flags);
	w.u64(header_.sender);
	w.u64(header_.incarnation);
	w.u64(header_.sequence);
	w.u8(0);
	count_ = 0;
	return out;
}

void stampSequence(std::span<std::uint8_t> datagram, std::uint64_t sequence)
{
	if (datagram.size() < kHeaderSize || datagram[0] != kMagic0 || datagram[1] != kMagic1)
		throw std::invalid_argument("not a gossip datagram");
	for (unsigned i = 0; i < 8; ++i)
		datagram[20 + i] = static_cast<std::uint8_t>(sequence >> (8 * (7 - i)));
}

std::vector<std::uint8_t> encode(const Packet &packet)
{
	PacketWriter writer(packet.header);
	for (const Record &record : packet.records)
		if (!writer.add(record))
			throw std::length_error("gossip packet over one datagram");
	return writer.finish();
}

std::optional<std::uint64_t> parseNodeId(std::string_view hex) noexcept
{
	if (hex.size() != 16)
		return std::nullopt;
	std::uint64_t v = 0;
	for (char c : hex) {
		unsigned digit;
		if (c >= '0' && c <= '9')
			digit = c - '0';
		else if (c >= 'a' && c <= 'f')
			digit = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			digit = c - 'A' + 10;
		else
			return std::nullopt;
		v = (v << 4) | digit;
	}
	if (v == 0)
		return std::nullopt;
	return v;
}

std::string formatNodeId(std::uint64_t id)
{
	return fmt::format("{:016x}", id);
}

} // namespace dmdns::wire

/// A reader for the protocol-buffers wire format, enough for SentencePiece's `ModelProto`.
///
/// Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit. Groups (3, 4) are
/// rejected. Reading past the end or an over-long varint throws `ProtobufError`.
struct ProtobufReader {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>? = nil) {
        self.bytes = bytes
        offset = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var isAtEnd: Bool { offset >= end }

    /// One field: its number, wire type and, for length-delimited fields, the byte range of the payload.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(Range<Int>)
    }

    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw ProtobufError.truncated(at: offset) }
            let b = bytes[offset]
            offset += 1
            guard shift < 64 else { throw ProtobufError.malformed("varint longer than 10 bytes at \(offset)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Reads the next field, or nil at the end of the message.
    mutating func next() throws -> (field: Int, value: Value)? {
        guard !isAtEnd else { return nil }
        let key = try readVarint()
        let field = Int(key >> 3)
        guard field > 0 else { throw ProtobufError.malformed("field number 0 at \(offset)") }
        switch key & 7 {
        case 0: return (field, .varint(try readVarint()))
        case 1: return (field, .fixed64(try readFixed(8)))
        case 2:
            let n = try readVarint()
            guard n <= UInt64(end - offset) else { throw ProtobufError.truncated(at: offset) }
            let r = offset..<(offset + Int(n))
            offset += Int(n)
            return (field, .bytes(r))
        case 5: return (field, .fixed32(UInt32(try readFixed(4))))
        default: throw ProtobufError.malformed("unsupported wire type \(key & 7) for field \(field)")
        }
    }

    private mutating func readFixed(_ n: Int) throws -> UInt64 {
        guard end - offset >= n else { throw ProtobufError.truncated(at: offset) }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += n
        return v
    }

    func string(_ r: Range<Int>) throws -> String {
        let s = UnsafeRawBufferPointer(rebasing: bytes[r])
        guard let str = String(validating: s.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw ProtobufError.malformed("string field is not UTF-8 at \(r.lowerBound)")
        }
        return str
    }

    func sub(_ r: Range<Int>) -> ProtobufReader { ProtobufReader(bytes, range: r) }
}

enum ProtobufError: Error, CustomStringConvertible {
    case truncated(at: Int)
    case malformed(String)

    var description: String {
        switch self {
        case .truncated(let o): return "truncated protobuf message at byte \(o)"
        case .malformed(let s): return "malformed protobuf: \(s)"
        }
    }
}

extension ProtobufReader.Value {
    /// The value as an int32/enum (negative numbers are sign-extended 64-bit varints on the wire).
    func int32() throws -> Int {
        guard case .varint(let v) = self else { throw ProtobufError.malformed("expected a varint") }
        return Int(Int32(truncatingIfNeeded: v))
    }

    func bool() throws -> Bool {
        guard case .varint(let v) = self else { throw ProtobufError.malformed("expected a varint") }
        return v != 0
    }

    func float() throws -> Float {
        guard case .fixed32(let v) = self else { throw ProtobufError.malformed("expected a fixed32") }
        return Float(bitPattern: v)
    }

    func range() throws -> Range<Int> {
        guard case .bytes(let r) = self else { throw ProtobufError.malformed("expected a length-delimited field") }
        return r
    }
}

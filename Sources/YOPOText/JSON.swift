import Foundation

/// A JSON value as read from a tokenizer file or a benchmark's question and answer files.
///
/// Own parser rather than `JSONSerialization`: Swift `String` keys compare by canonical
/// equivalence, so a `[String: Any]` merges distinct vocabulary entries such as "ί" (U+1F77) and
/// "ί" (U+03AF), both present in LLaMA's vocabulary. Objects here keep every key, in file order.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
    public init(_ key: String, _ value: JSONValue) { self.init(key: key, value: value) }
}

public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The first member named `key` (keys of structural fields are ASCII, so `==` is exact).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var double: Double? { if case .number(let d) = self { return d } else { return nil } }
    public var int: Int? {
        guard case .number(let d) = self, d == d.rounded(), abs(d) < 9e15 else { return nil }
        return Int(d)
    }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var members: [JSONMember]? { if case .object(let m) = self { return m } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// A short rendering for messages: `5`, `-1.5`, `"two"`, `a list`, `an object`.
    public var summary: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d): return d == d.rounded() && abs(d) < 9e15 ? "\(Int(d))" : "\(d)"
        case .string(let s): return "\"" + printable(s) + "\""
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// Parses a whole document. Throws `JSONError` with the byte offset of the problem.
    public static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in
            var p = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            let v = try p.value()
            p.skipWhitespace()
            guard p.i == p.bytes.count else { throw JSONError(offset: p.i, message: "trailing characters") }
            return v
        }
    }
}

public struct JSONError: Error, CustomStringConvertible, Equatable {
    public var offset: Int
    public var message: String
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ message: String) -> JSONError { JSONError(offset: i, message: message) }

    mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    mutating func value() throws -> JSONValue {
        skipWhitespace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("unexpected end") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("unexpected character") }
        i += n
    }

    mutating func object() throws -> JSONValue {
        depth += 1
        guard depth < 512 else { throw fail("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "}") {
            i += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try string()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            members.append(JSONMember(key: key, value: try value()))
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func array() throws -> JSONValue {
        depth += 1
        guard depth < 512 else { throw fail("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if i < bytes.count && bytes[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            items.append(try value())
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']'")
        }
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw fail("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1
        let begin = i
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < bytes.count else { throw fail("unterminated string") }
        var out = Array(UnsafeBufferPointer(rebasing: bytes[begin..<i]))
        while bytes[i] == UInt8(ascii: "\\") {
            i += 1
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(c)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var cp = try hex4()
                if cp >= 0xD800 && cp < 0xDC00 {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate") }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(cp) else { throw fail("unpaired surrogate") }
                out += Array(String(scalar).utf8)
            default: throw fail("bad escape")
            }
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") { i += 1 }
            guard i < bytes.count else { throw fail("unterminated string") }
            out += UnsafeBufferPointer(rebasing: bytes[start..<i])
        }
        i += 1
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not UTF-8") }
        return s
    }

    mutating func number() throws -> Double {
        let begin = i
        while i < bytes.count {
            let c = bytes[i]
            guard
                (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
                    || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
            else { break }
            i += 1
        }
        guard i > begin, let d = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[begin..<i]), as: UTF8.self)) else {
            throw fail("unexpected character")
        }
        return d
    }
}

/// A hash table from byte strings to ids, compared byte for byte (never by Unicode equivalence),
/// looked up without allocating.
struct ByteStringTable {
    private var storage: [UInt8] = []
    private var offsets: [Int32] = []
    private var lengths: [Int32] = []
    private var values: [Int32] = []
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [Int32](repeating: -1, count: n)
        mask = n - 1
    }

    var count: Int { values.count }

    @inline(__always)
    private static func hash(_ p: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in p { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Inserts `key` → `value`; returns false (and changes nothing) when `key` is already present.
    @discardableResult
    mutating func insert(_ key: some Collection<UInt8>, _ value: Int) -> Bool {
        let bytes = Array(key)
        if bytes.withUnsafeBufferPointer({ lookup($0) }) != nil { return false }
        if (values.count + 1) * 2 > slots.count { grow() }
        offsets.append(Int32(storage.count))
        lengths.append(Int32(bytes.count))
        storage += bytes
        values.append(Int32(value))
        place(values.count - 1)
        return true
    }

    @discardableResult
    mutating func insert(_ key: String, _ value: Int) -> Bool { insert(Array(key.utf8), value) }

    private mutating func place(_ entry: Int) {
        let h = storage.withUnsafeBufferPointer { s in
            Self.hash(UnsafeBufferPointer(rebasing: s[Int(offsets[entry])..<Int(offsets[entry] + lengths[entry])]))
        }
        var slot = h & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(entry)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        for e in 0..<values.count { place(e) }
    }

    func lookup(_ key: UnsafeBufferPointer<UInt8>) -> Int? {
        var slot = Self.hash(key) & mask
        return storage.withUnsafeBufferPointer { s in
            while true {
                let e = Int(slots[slot])
                if e < 0 { return nil }
                if Int(lengths[e]) == key.count {
                    let o = Int(offsets[e])
                    var same = true
                    for k in 0..<key.count where s[o + k] != key[k] {
                        same = false
                        break
                    }
                    if same { return Int(values[e]) }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    subscript(key: ArraySlice<UInt8>) -> Int? { key.withUnsafeBufferPointer { lookup($0) } }
    subscript(key: [UInt8]) -> Int? { key.withUnsafeBufferPointer { lookup($0) } }
    public subscript(key: String) -> Int? {
        var k = key
        return k.withUTF8 { lookup($0) }
    }
}

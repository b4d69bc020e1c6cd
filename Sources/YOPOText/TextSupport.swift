/// Shared pieces of the two tokenizers: a binary heap, the added-token splitter, UTF-8 helpers.

/// A binary heap; `first` is the element for which `precedes` holds against all others.
struct BinaryHeap<Element> {
    private var items: [Element] = []
    private let precedes: (Element, Element) -> Bool

    init(capacity: Int = 0, precedes: @escaping (Element, Element) -> Bool) {
        self.precedes = precedes
        items.reserveCapacity(capacity)
    }

    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard precedes(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < n && precedes(items[l], items[best]) { best = l }
            if r < n && precedes(items[r], items[best]) { best = r }
            if best == i { break }
            items.swapAt(i, best)
            i = best
        }
        return top
    }
}

/// One part of a text after added tokens are split out.
enum TextSegment: Equatable {
    /// Bytes `range` of the text, starting at byte `range.lowerBound` of the original text.
    case text(Range<Int>)
    /// An added token and the bytes it covers (including whitespace it strips).
    case token(AddedToken, Range<Int>)
}

/// Finds added tokens in UTF-8 text: leftmost match first, the longest at that position, as HF's
/// added-token trie does. `lstrip` / `rstrip` tokens swallow adjacent Unicode whitespace;
/// `singleWord` tokens match only between non-word characters.
struct AddedTokenSplitter {
    private final class Node {
        var children: [UInt8: Node] = [:]
        var token: AddedToken?
    }

    private let root = Node()
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        isEmpty = tokens.isEmpty
        for t in tokens where !t.content.isEmpty {
            var node = root
            for b in t.content.utf8 {
                if let next = node.children[b] {
                    node = next
                } else {
                    let next = Node()
                    node.children[b] = next
                    node = next
                }
            }
            if node.token == nil { node.token = t }
        }
    }

    /// Splits `bytes[range]`; text segments are never empty.
    func split(_ bytes: [UInt8], range: Range<Int>? = nil) -> [TextSegment] {
        let range = range ?? 0..<bytes.count
        guard !isEmpty else { return range.isEmpty ? [] : [.text(range)] }
        var out: [TextSegment] = []
        var textStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard let (token, end) = longestMatch(bytes, at: i, limit: range.upperBound),
                !token.singleWord || isWordBoundary(bytes, start: i, end: end, range: range)
            else {
                i += 1
                continue
            }
            var start = i
            var stop = end
            if token.lstrip {
                while start > textStart, let (s, isSpace) = scalarBefore(bytes, start), isSpace { start = s }
            }
            if token.rstrip {
                while stop < range.upperBound, let (e, isSpace) = scalarAfter(bytes, stop, limit: range.upperBound), isSpace {
                    stop = e
                }
            }
            if start > textStart { out.append(.text(textStart..<start)) }
            out.append(.token(token, start..<stop))
            textStart = stop
            i = stop
        }
        if textStart < range.upperBound { out.append(.text(textStart..<range.upperBound)) }
        return out
    }

    private func longestMatch(_ bytes: [UInt8], at start: Int, limit: Int) -> (AddedToken, Int)? {
        var node = root
        var best: (AddedToken, Int)?
        var i = start
        while i < limit, let next = node.children[bytes[i]] {
            node = next
            i += 1
            if let t = node.token { best = (t, i) }
        }
        return best
    }

    private func isWordBoundary(_ bytes: [UInt8], start: Int, end: Int, range: Range<Int>) -> Bool {
        if start > range.lowerBound, let (s, _) = scalarBefore(bytes, start),
            isWordScalar(decodeScalar(bytes, at: s))
        {
            return false
        }
        if end < range.upperBound, isWordScalar(decodeScalar(bytes, at: end)) { return false }
        return true
    }

    private func isWordScalar(_ s: Unicode.Scalar?) -> Bool {
        guard let s else { return false }
        return s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil
    }

    private func scalarBefore(_ bytes: [UInt8], _ end: Int) -> (Int, Bool)? {
        guard end > 0 else { return nil }
        var s = end - 1
        while s > 0 && bytes[s] & 0xC0 == 0x80 { s -= 1 }
        return (s, decodeScalar(bytes, at: s)?.properties.isWhitespace ?? false)
    }

    private func scalarAfter(_ bytes: [UInt8], _ start: Int, limit: Int) -> (Int, Bool)? {
        guard start < limit else { return nil }
        let n = utf8Length(leadByte: bytes[start])
        return (min(start + n, limit), decodeScalar(bytes, at: start)?.properties.isWhitespace ?? false)
    }
}

/// Length of the UTF-8 sequence a lead byte announces (1 for invalid lead bytes).
@inline(__always)
func utf8Length(leadByte b: UInt8) -> Int {
    if b < 0x80 { return 1 }
    if b & 0xE0 == 0xC0 { return 2 }
    if b & 0xF0 == 0xE0 { return 3 }
    if b & 0xF8 == 0xF0 { return 4 }
    return 1
}

/// Decodes one well-formed UTF-8 scalar at `i` (nil when the bytes there are not one).
func decodeScalar(_ bytes: [UInt8], at i: Int) -> Unicode.Scalar? {
    let n = utf8Length(leadByte: bytes[i])
    guard i + n <= bytes.count else { return nil }
    return validScalar(bytes[i..<(i + n)])
}

/// The scalar encoded by exactly `bytes` (1–4 bytes), or nil when they are not well-formed UTF-8
/// (bad lead or trail bytes, overlong forms, surrogates, values above U+10FFFF).
func validScalar(_ bytes: ArraySlice<UInt8>) -> Unicode.Scalar? {
    let b = Array(bytes)
    let n = b.count
    guard n >= 1, n == utf8Length(leadByte: b[0]) else { return nil }
    if n == 1 { return b[0] < 0x80 ? Unicode.Scalar(b[0]) : nil }
    for k in 1..<n where b[k] & 0xC0 != 0x80 { return nil }
    var cp: UInt32
    let minimum: UInt32
    switch n {
    case 2: cp = UInt32(b[0] & 0x1F); minimum = 0x80
    case 3: cp = UInt32(b[0] & 0x0F); minimum = 0x800
    default: cp = UInt32(b[0] & 0x07); minimum = 0x10000
    }
    for k in 1..<n { cp = (cp << 6) | UInt32(b[k] & 0x3F) }
    guard cp >= minimum else { return nil }
    return Unicode.Scalar(cp)  // nil for surrogates and > U+10FFFF
}

/// The piece spelling of a byte-fallback token: `<0x0A>`.
func bytePieceName(_ b: UInt8) -> String {
    let hex = String(b, radix: 16, uppercase: true)
    return "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
}

/// The byte a `<0xXX>` spelling stands for, else nil.
func byteOfPieceName(_ s: String) -> UInt8? {
    let u = Array(s.utf8)
    guard u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
        u[5] == UInt8(ascii: ">")
    else { return nil }
    return UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16)
}

let metaspaceUTF8: [UInt8] = [0xE2, 0x96, 0x81]
